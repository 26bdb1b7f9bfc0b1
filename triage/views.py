"""The human triage queue: uncertain and returned reports, the model's suggestion, and
one-action accept / correct / merge. Content is decrypted only on request, and logged."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from intake.models import AccessKind, Channel, MatterType
from intake.selectors import report_content
from intake.services import content_view_record
from intake.validators import check_no_control_characters, parse_id
from triage.models import Case, CaseStatus, Category, Department
from triage.selectors import (
    ContentAccess,
    QueueFilters,
    cases_visible_to,
    content_access,
    departments_by_area,
    triage_queue,
    worst_deadline_state,
)
from triage.services import MAX_SPLIT_PARTS, TriageError, triage_accept, triage_correct, triage_merge, triage_split

PAGE_SIZE = 50
SPLIT_ROWS = 3


class QueueFilterForm(forms.Form):
    channel = forms.ChoiceField(label=_lazy("渠道"), required=False, choices=[("", _lazy("全部")), *Channel.choices])
    category = forms.ChoiceField(label=_lazy("类别"), required=False, choices=())
    matter_type = forms.ChoiceField(
        label=_lazy("事项类型"), required=False, choices=[("", _lazy("全部")), *MatterType.choices]
    )
    level = forms.TypedChoiceField(
        label=_lazy("建议部门层级"), required=False, coerce=int, empty_value=None,
        choices=[("", _lazy("全部")), (1, _lazy("市")), (2, _lazy("区县")), (3, _lazy("乡镇街道")), (4, _lazy("村社区"))],
    )
    min_age_days = forms.IntegerField(label=_lazy("等待天数≥"), required=False, min_value=0, max_value=3650)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = [("", _("全部")), *((c.name, str(c)) for c in Category.objects.all())]


def _departments_by_area(field: forms.Field) -> None:
    """The department picker grouped by area (full names); the queryset still validates."""
    assert isinstance(field, forms.ModelChoiceField)
    assert field.queryset is not None
    field.choices = [("", "---------"), *departments_by_area(field.queryset)]


class CorrectForm(forms.Form):
    category = forms.ModelChoiceField(label=_lazy("类别"), queryset=Category.objects.filter(is_active=True),
                                      required=False, help_text=_lazy("不选则保留建议类别。"))
    department = forms.ModelChoiceField(label=_lazy("承办部门"), queryset=Department.objects.filter(is_active=True))
    reason = forms.CharField(label=_lazy("更正原因"), max_length=500, validators=[check_no_control_characters])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _departments_by_area(self.fields["department"])


class MergeForm(forms.Form):
    into = forms.CharField(label=_lazy("并入案件编号"), max_length=20)
    reason = forms.CharField(label=_lazy("原因"), max_length=500, validators=[check_no_control_characters])


class SplitPartForm(forms.Form):
    category = forms.ModelChoiceField(label=_lazy("类别"), queryset=Category.objects.filter(is_active=True))
    department = forms.ModelChoiceField(label=_lazy("承办部门"), queryset=Department.objects.filter(is_active=True))
    note = forms.CharField(label=_lazy("本项事项"), max_length=200, required=False,
                           validators=[check_no_control_characters],
                           help_text=_lazy("简述本项反映的事项，勿填写姓名、电话等个人信息。"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _departments_by_area(self.fields["department"])


# Rows left blank are ignored; two rows are the least a split needs.
SplitPartFormSet = forms.formset_factory(
    SplitPartForm, extra=SPLIT_ROWS, max_num=MAX_SPLIT_PARTS, absolute_max=MAX_SPLIT_PARTS
)


class SplitReasonForm(forms.Form):
    reason = forms.CharField(label=_lazy("拆分原因"), max_length=500, validators=[check_no_control_characters])


def _case_or_404(request: HttpRequest, case_id: int) -> Case:
    case = cases_visible_to(request.user).select_related("report", "category", "department").filter(pk=case_id).first()  # type: ignore[arg-type]
    if case is None:
        raise Http404
    return case


@require_safe
@login_required
@permission_required("triage.triage_case", raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    filters = QueueFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = QueueFilters(channel=data["channel"], category=data["category"], matter_type=data["matter_type"],
                               level=data["level"], min_age_days=data["min_age_days"])
    cases = triage_queue(user=request.user, filters=filters)  # type: ignore[arg-type]
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    # The 登记交办 clock (15 days) runs while a report waits here: each row says how it stands.
    now = timezone.now()
    for case in page:
        state = worst_deadline_state(case.open_deadlines, now=now)  # type: ignore[attr-defined]
        case.clock_state = (state.value, str(state.label)) if state else None  # type: ignore[attr-defined]
    return render(request, "triage/queue.html", {"form": form, "page": page, "total": page.paginator.count})


@require_POST
@login_required
@permission_required("triage.triage_case", raise_exception=True)
def bulk_accept(request: HttpRequest) -> HttpResponse:
    ids = [i for i in map(parse_id, request.POST.getlist("case")) if i is not None]
    if not ids:
        messages.warning(request, _("请先勾选要按建议交办的案件。"))
        return redirect("triage-queue")
    ids = list(dict.fromkeys(ids))
    accepted = 0
    with transaction.atomic():
        for case in cases_visible_to(request.user).filter(pk__in=ids):  # type: ignore[arg-type]
            try:
                triage_accept(case=case, user=request.user)  # type: ignore[arg-type]
                accepted += 1
            except TriageError:
                pass
    # A ticked case out of reach (or gone) counts as not handled, like one without a department.
    skipped = len(ids) - accepted
    if not accepted:
        messages.error(request, _("所选 %(s)d 件均未交办：缺少建议部门或已不在待分流状态。") % {"s": skipped})
    elif skipped:
        messages.warning(request, _("已交办 %(a)d 件；%(s)d 件缺少建议部门或已不在待分流状态，未处理。")
                         % {"a": accepted, "s": skipped})
    else:
        messages.success(request, _("已交办 %(a)d 件。") % {"a": accepted})
    return redirect("triage-queue")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("triage.triage_case", raise_exception=True)
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request, case_id)
    content = None
    if request.method == "POST" and request.POST.get("action") == "view_content":
        # The one content policy (as in the console): a holder of the triage permission
        # without the content permission, or beyond their scope, reads nothing.
        if content_access(user=request.user, case=case) != ContentAccess.DIRECT:  # type: ignore[arg-type]
            raise PermissionDenied
        # Every human view of content is an audit record.
        content_view_record(report=case.report, user=request.user, kind=AccessKind.VIEW_CONTENT)  # type: ignore[arg-type]
        content = report_content(case.report)
    return _case_page(request, case, content=content)


def _alternatives(explanation: dict[str, Any]) -> list[tuple[str, float]]:
    """The model's other likely categories under their present names (the explanation keeps
    the model's labels, which stay when an admin renames a category)."""
    pairs = (explanation.get("category") or {}).get("alternatives") or []
    names = {c.model_label: str(c) for c in Category.objects.filter(model_label__in=[label for label, _p in pairs])}
    return [(names.get(label) or _(label), p) for label, p in pairs]


def _case_page(request: HttpRequest, case: Case, *, content: Any = None, split_formset: Any = None,
               split_reason: SplitReasonForm | None = None, split_error: str = "",
               correct_form: CorrectForm | None = None, merge_form: MergeForm | None = None,
               status: int = 200) -> HttpResponse:
    correct_form = correct_form or CorrectForm(initial={"category": case.category, "department": case.department})
    merge_form = merge_form or MergeForm()
    if split_formset is None:
        split_formset = SplitPartFormSet(prefix="part", initial=[{"category": case.category, "department": case.department}])
    visible = cases_visible_to(request.user)  # type: ignore[arg-type]
    duplicates = list(visible.filter(duplicate_of=case).only("pk", "created_at", "status"))
    splits = list(visible.filter(split_from=case).select_related("category", "department"))
    return render(request, "triage/case.html", {
        "case": case, "content": content, "correct_form": correct_form, "merge_form": merge_form,
        "split_formset": split_formset, "split_reason": split_reason or SplitReasonForm(prefix="split"),
        "split_error": split_error,
        "explanation": case.triage_explanation or {}, "alternatives": _alternatives(case.triage_explanation or {}),
        "duplicates": duplicates, "splits": splits,
        "can_view_content": content_access(user=request.user, case=case) == ContentAccess.DIRECT,  # type: ignore[arg-type]
        "can_act": case.status == CaseStatus.AWAITING_TRIAGE,
        # triage_correct also takes a case assigned but not yet accepted (a wrong department).
        "can_correct": case.status in (CaseStatus.AWAITING_TRIAGE, CaseStatus.ASSIGNED),
        "can_split": case.status == CaseStatus.AWAITING_TRIAGE and case.split_from_id is None,
    }, status=status)


@require_POST
@login_required
@permission_required("triage.triage_case", raise_exception=True)
def case_split(request: HttpRequest, case_id: int) -> HttpResponse:
    """Split a report raising several matters into several cases. On bad input the page
    comes back with the officer's rows and the error; nothing is stored."""
    case = _case_or_404(request, case_id)
    formset = SplitPartFormSet(request.POST, prefix="part")
    reason_form = SplitReasonForm(request.POST, prefix="split")
    error = ""
    if not formset.is_valid() or not reason_form.is_valid():
        error = _("拆分未成功，请按提示修改。")
        if formset.non_form_errors():
            error += " " + " ".join(str(e) for e in formset.non_form_errors())
    else:
        # The first row comes pre-filled with the suggestion, so it counts even unchanged.
        filled = [f for i, f in enumerate(formset.forms) if i < formset.initial_form_count() or f.has_changed()]
        parts = [(f.cleaned_data["category"], f.cleaned_data["department"], f.cleaned_data.get("note", ""))
                 for f in filled if f.cleaned_data]
        try:
            cases = triage_split(case=case, user=request.user, parts=parts,  # type: ignore[arg-type]
                                 reason=reason_form.cleaned_data["reason"])
        except TriageError as exc:
            error = str(exc)
        else:
            messages.success(request, _("已拆分为 %(n)d 件并分别交办：%(numbers)s。") % {
                "n": len(cases), "numbers": "、".join(c.number for c in cases)})
            return redirect("triage-queue")
    return _case_page(request, case, split_formset=formset, split_reason=reason_form, split_error=error, status=400)


@require_POST
@login_required
@permission_required("triage.triage_case", raise_exception=True)
def case_action(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request, case_id)
    action = request.POST.get("action")
    # On bad input the page comes back with what the officer typed and the reason, nothing stored.
    correct_form = CorrectForm(request.POST) if action == "correct" else None
    merge_form = MergeForm(request.POST) if action == "merge" else None
    try:
        if action == "accept":
            triage_accept(case=case, user=request.user)  # type: ignore[arg-type]
            messages.success(request, _("已按建议交办 %(n)s。") % {"n": case.number})
        elif correct_form is not None:
            if not correct_form.is_valid():
                raise TriageError(_("更正未成功，请按提示修改。"))
            triage_correct(case=case, user=request.user,  # type: ignore[arg-type]
                           category=correct_form.cleaned_data["category"],
                           department=correct_form.cleaned_data["department"],
                           reason=correct_form.cleaned_data["reason"])
            messages.success(request, _("已更正并交办 %(n)s；更正将用于下次模型训练。") % {"n": case.number})
        elif merge_form is not None:
            if not merge_form.is_valid():
                raise TriageError(_("请填写要并入的案件编号和原因。"))
            target = _case_by_number(request, merge_form.cleaned_data["into"])
            triage_merge(case=case, into=target, user=request.user,  # type: ignore[arg-type]
                         reason=merge_form.cleaned_data["reason"])
            messages.success(request, _("已并入案件 %(n)s。") % {"n": target.number})
        else:
            raise TriageError(_("未知操作。"))
    except TriageError as exc:
        messages.error(request, str(exc))
        if correct_form is None and merge_form is None:
            return redirect("triage-case", case_id=case.pk)
        case.refresh_from_db()
        return _case_page(request, case, correct_form=correct_form, merge_form=merge_form, status=400)
    return redirect("triage-queue")


def _case_by_number(request: HttpRequest, number: str) -> Case:
    number = number.strip().upper()
    case_id = Case.id_in_number(number)
    if case_id is None:
        raise TriageError(_("案件编号格式不正确。"))
    target = cases_visible_to(request.user).filter(pk=case_id).first()  # type: ignore[arg-type]
    if target is None or target.number != number:
        raise TriageError(_("找不到该案件。"))
    return target
