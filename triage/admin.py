"""Admin: departments, categories, routing and term rules, classifier versions, and the
user page with the staff member's department next to their roles (groups)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, QuerySet, Value
from django.db.models.functions import Concat, Substr
from django.http import HttpRequest
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from intake import staff_auth
from intake.admin_pages import ReadOnlyAdmin
from intake.models import MatterType
from triage.models import (
    CalendarOverride,
    Case,
    CaseEvent,
    Category,
    ClassifierModel,
    Correction,
    DeadlinePolicy,
    Department,
    ReplyTemplate,
    RuleKind,
    StaffProfile,
    TermRule,
)

admin.site.site_header = _("清风 系统管理")
admin.site.site_title = _("清风 系统管理")
admin.site.index_title = _("系统管理")


class DepartmentForm(forms.ModelForm):  # type: ignore[type-arg]
    """The tree must stay a tree: a department cannot sit under itself or under one of
    its own sub-departments (its path, and with it every staff scope, would loop)."""

    class Meta:
        model = Department
        fields = ("code", "name", "short_name", "kind", "area", "parent", "level", "is_active")
        help_texts = {"level": _("1 市、2 区县、3 乡镇街道、4 村社区；填 0 则按辖区自动确定。")}

    def clean_parent(self) -> Department | None:
        parent: Department | None = self.cleaned_data.get("parent")
        own = self.instance
        if parent is not None and own.pk is not None and (
                parent.pk == own.pk or (own.path and parent.path.startswith(own.path))):
            raise forms.ValidationError(_("上级不能是本部门或其下级部门。"))
        return parent


def department_move(department: Department, old_path: str) -> int:
    """After a department moved in the tree, rewrite the paths of everything under it
    (the sub-tree scoping of staff reads them). Returns how many were rewritten."""
    if not old_path or old_path == department.path:
        return 0
    return Department.objects.filter(path__startswith=old_path).exclude(pk=department.pk).update(
        path=Concat(Value(department.path), Substr("path", len(old_path) + 1)))


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = DepartmentForm
    list_display = ("name", "code", "kind", "level", "area", "parent", "is_active")
    list_filter = ("kind", "level", "is_active")
    list_select_related = ("area", "parent")
    search_fields = ("name", "short_name", "code", "area__name")
    # Codes nest (379901-… under 379900-…, 379901001-… under 379901-…): code order is tree order.
    ordering = ("code",)

    def save_model(self, request: HttpRequest, obj: Department, form: Any, change: bool) -> None:
        with transaction.atomic():
            old_path = Department.objects.filter(pk=obj.pk).values_list("path", flat=True).first() if change else ""
            super().save_model(request, obj, form, change)
            obj.refresh_from_db(fields=["path"])
            department_move(obj, old_path or "")


class CategoryForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Category
        fields = ("name", "model_label", "department_suffix", "is_active")
        help_texts = {
            "name": _("各页面显示的名称，可以随时修改。"),
            "model_label": _("分类模型判出的类别按此标签对应到这里，保存后不能修改。默认系统类别的标签与训练数据一致；"
                             "新增类别留空即取名称，模型要等到人工更正为此类别的来件参加训练后才会判出它。"),
            "department_suffix": _("对口部门编码的后缀，如 zj 对应各区县的“…-zj”住建部门；留空则不按类别分流。"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "model_label" in self.fields:  # read-only once saved (CategoryAdmin.get_readonly_fields)
            self.fields["model_label"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "model_label" in self.fields and not (data.get("model_label") or "").strip():
            # Set here rather than in Category.save so the uniqueness check sees it.
            data["model_label"] = (data.get("name") or "").strip()
            self.instance.model_label = data["model_label"]
        return data

    def clean_department_suffix(self) -> str:
        suffix: str = (self.cleaned_data.get("department_suffix") or "").strip()
        if suffix and not Department.objects.filter(code__endswith=f"-{suffix}").exists():
            raise forms.ValidationError(_("没有编码以“-%(suffix)s”结尾的部门，按此类别将无法分流。")
                                        % {"suffix": suffix})
        return suffix


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = CategoryForm
    list_display = ("name", "model_label", "department_suffix", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "model_label", "department_suffix")

    def get_readonly_fields(self, request: HttpRequest, obj: Category | None = None) -> tuple[str, ...]:
        # The model's predictions and the corrections it learns from name the category by it.
        return ("model_label",) if obj is not None else ()


PLACE_GOVERNMENT = "place_government"  # the 结论 of a routing rule that sends to the place's government (decide.py)


class TermRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    """What 结论 means depends on the kind of rule; a rule that can never take effect is
    refused here rather than silently ignored by triage."""

    class Meta:
        model = TermRule
        fields = ("kind", "term", "label", "weight", "department", "area", "is_active")
        help_texts = {
            "label": _("事项类型规则：填事项类型代码（accusation 检举控告、complaint 投诉、help 求助、suggestion 建议、"
                       "consultation 咨询）；违纪类型规则：填违纪类型名称；分流规则：选择部门，或填 place_government "
                       "表示转交所涉地点的政府（乡镇/街道、村/社区）；紧急规则：可不填。"),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, label, department = data.get("kind"), (data.get("label") or "").strip(), data.get("department")
        data["label"] = label
        if kind == RuleKind.MATTER and label not in MatterType.values:
            self.add_error("label", _("事项类型规则的结论必须是以下代码之一：%(codes)s。")
                           % {"codes": "、".join(MatterType.values)})
        elif kind == RuleKind.VIOLATION and not label:
            self.add_error("label", _("请填写违纪类型名称。"))
        elif kind == RuleKind.ROUTE:
            if department is None and label != PLACE_GOVERNMENT:
                self.add_error("department", _("分流规则须选择部门，或在结论中填写 place_government。"))
            elif department is not None and label == PLACE_GOVERNMENT:
                self.add_error("label", _("已选择部门时结论不能为 place_government，二者只能选其一。"))
        return data


@admin.register(TermRule)
class TermRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = TermRuleForm
    list_display = ("kind", "term", "label", "weight", "department", "area", "is_active")
    list_filter = ("kind", "is_active")
    list_select_related = ("department", "area")
    search_fields = ("term", "label", "department__name", "area__name")


class ClassifierModelAdmin(ReadOnlyAdmin):
    """Versions are made by training and switched by activation (the same service as
    `manage.py activate_model`): nothing here is typed in, and the active one stays."""

    list_display = ("version", "is_active", "created_at", "macro_f1", "n_train", "n_corrections", "seconds", "pruned_at")
    fields = (*list_display, "data_hash", "metrics")
    readonly_fields = fields
    actions = ["activate"]

    @admin.display(description=_("测试集宏平均 F1"))
    def macro_f1(self, obj: ClassifierModel) -> Any:
        value = (obj.metrics or {}).get("macro_f1")
        return f"{value:.3f}" if isinstance(value, int | float) else "—"

    @admin.display(description=_("训练用时（秒）"))
    def seconds(self, obj: ClassifierModel) -> str:
        return f"{obj.training_seconds:.1f}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClassifierModel]:
        return super().get_queryset(request).defer("artifact", "serving")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The active version is never deleted: triage would fall back to the human queue.
        return admin.ModelAdmin.has_delete_permission(self, request, obj) and not (obj is not None and obj.is_active)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ClassifierModel]) -> None:
        super().delete_queryset(request, queryset.exclude(is_active=True))

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        if not request.user.has_perm("triage.change_classifiermodel"):
            actions.pop("activate", None)
        return actions

    @admin.action(description=_("设为当前使用的模型（启用或回滚）"))
    def activate(self, request: HttpRequest, queryset: QuerySet[ClassifierModel]) -> None:
        from triage.training import TrainingError, activate

        chosen = list(queryset.values_list("version", "pruned_at"))
        if len(chosen) != 1:
            self.message_user(request, _("请只选择一个版本。"), messages.ERROR)
            return
        version, pruned_at = chosen[0]
        if pruned_at is not None:
            self.message_user(request, _("版本 %(v)s 的模型文件已清理，不能启用；请选择保留的版本或重新训练。")
                              % {"v": version}, messages.ERROR)
            return
        try:
            activate(version)
        except TrainingError:
            self.message_user(request, _("版本 %(v)s 未能启用。") % {"v": version}, messages.ERROR)
            return
        # In the change record the auditor reads (/staff/audit/changes/), like any admin edit.
        self.log_change(request, queryset.get(), str(_("设为当前使用的模型")))
        self.message_user(request, _("已启用版本 %(v)s，新来件将按此模型分流。") % {"v": version}, messages.SUCCESS)


admin.site.register(ClassifierModel, ClassifierModelAdmin)


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Read-only: a case changes only through the workflow, which writes a hash-chained
    event for every change; an edit here would bypass the record (and could rewrite the
    chain head). Handling happens in the console."""

    list_display = ("__str__", "status", "department", "category", "urgent", "confidence", "created_at")
    list_filter = ("status", "urgent", "category")
    list_select_related = ("department", "category")
    exclude = ("report", "fingerprint", "fp_band0", "fp_band1", "fp_band2", "fp_band3", "audit_head")
    raw_id_fields = ("duplicate_of", "split_from", "department", "transfer_to")


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "department")
    list_select_related = ("user", "department")
    search_fields = ("user__username", "user__first_name", "department__name")


class StaffProfileInline(admin.StackedInline):  # type: ignore[type-arg]
    """A user's roles alone scope nothing: without a department a handler sees no cases."""

    model = StaffProfile
    can_delete = False
    verbose_name = _("工作部门")
    verbose_name_plural = _("工作部门")


def _role_labels() -> dict[str, str]:
    from triage.demo import ROLES

    return {role.group: gettext(role.label) for role in ROLES}


class StaffUserAdmin(UserAdmin):  # type: ignore[type-arg]
    inlines = [StaffProfileInline]
    list_display = ("username", "first_name", "is_active", "is_staff", "department", "roles")
    list_select_related = ("staff_profile__department",)
    actions = ["open_enrolment"]

    @admin.action(description=_("开放身份验证器登记"))
    def open_enrolment(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """For staff who need a code and have no authenticator (a window that passed unused):
        they may enrol at their next sign-in, within TOTP_ENROLMENT_HOURS. Each opening is in
        the change record."""
        opened, skipped = [], []
        for user in queryset.order_by("username"):
            if not staff_auth.may_enrol(user):
                skipped.append(user.get_username())
                continue
            until = localtime(staff_auth.open_enrolment(user)).strftime("%Y-%m-%d %H:%M")
            self.log_change(request, user, gettext("开放身份验证器登记至 %(until)s") % {"until": until})
            opened.append(f"{user.get_username()}（{until}）")
        if opened:
            self.message_user(request, _("已开放登记，请在截止时间前登录绑定：%(users)s") % {"users": "、".join(opened)},
                              messages.SUCCESS)
        if skipped:
            self.message_user(request, _("以下账号无须开放（已停用、不需要两步验证或已绑定身份验证器）：%(users)s")
                              % {"users": "、".join(skipped)}, messages.WARNING)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"is_staff", "is_superuser", "is_active"} & set(form.changed_data):
            # Made an administrator (or re-activated): needs a code from now on. Roles added in
            # the same save open the window through intake's m2m signal.
            staff_auth.open_enrolment_if_needed(obj.pk)

    @admin.display(description=_("部门"))
    def department(self, user: Any) -> str:
        profile = getattr(user, "staff_profile", None)
        return str(profile.department) if profile else "—"

    @admin.display(description=_("角色"))
    def roles(self, user: Any) -> str:
        labels = _role_labels()
        return "、".join(sorted(labels.get(g.name, g.name) for g in user.groups.all()))

    def formfield_for_manytomany(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        """The group picker names the workflow roles as the rest of the console does."""
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups" and field is not None:
            labels = _role_labels()
            field.label_from_instance = lambda group: labels.get(group.name, group.name)  # type: ignore[method-assign,assignment]
        return field

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).prefetch_related("groups")

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """An account that made admin changes is not deleted: its change-record entries would
        go with it (LogEntry.user cascades) and the record's hash chain would show them as
        removed. Deactivating the account keeps both."""
        from django.contrib.admin.models import LogEntry

        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        users = {user.pk: user for user in objs}
        made = LogEntry.objects.filter(user_id__in=users).values_list("user_id").annotate(n=Count("pk"))
        protected = [*protected, *(_("%(user)s 的 %(n)d 条配置变更记录（请停用该账号，不要删除）")
                                   % {"user": users[pk].get_username(), "n": n} for pk, n in made)]
        return deleted, counts, perms_needed, protected


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)


class RoleGroupAdmin(GroupAdmin):
    """The roles (groups) with the names the console uses beside their codes."""

    list_display = ("name", "role", "members")

    @admin.display(description=_("角色"))
    def role(self, group: Group) -> str:
        return _role_labels().get(group.name, "—")

    @admin.display(description=_("人数"), ordering="member_count")
    def members(self, group: Group) -> int:
        return int(getattr(group, "member_count", 0))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return super().get_queryset(request).annotate(member_count=Count("user"))


admin.site.unregister(Group)
admin.site.register(Group, RoleGroupAdmin)


@admin.register(Correction)
class CorrectionAdmin(ReadOnlyAdmin):
    """The record of who corrected triage, when and why; the next training reads it."""

    list_display = ("at", "user", "kind", "case", "old_category", "new_category", "old_department", "new_department")
    list_filter = ("kind",)
    list_select_related = ("user", "case", "old_category", "new_category", "old_department", "new_department")


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "kind", "channel", "matter_type", "priority", "amount", "unit", "max_extensions",
                    "max_extension_amount", "named_reporter_only", "is_active")
    list_filter = ("kind", "unit", "is_active")


@admin.register(CalendarOverride)
class CalendarOverrideAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("date", "is_workday", "note")
    date_hierarchy = "date"


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    """Read-only: the chain is append-only."""

    list_display = ("case", "seq", "kind", "from_status", "to_status", "actor", "at")
    list_filter = ("kind",)
    raw_id_fields = ("case", "actor")


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "position", "is_active")
    list_editable = ("position", "is_active")
    search_fields = ("title",)
