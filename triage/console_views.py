"""The department handler console: the scoped case queue and the case page, with one form
for each transition the user may make now. Scoping comes from `cases_visible_to`; what may
be done comes from the workflow; these views only translate between forms and services."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST, require_safe

from intake.forms import DayField
from intake.models import AccessKind, Attachment, Channel, Feedback, MatterType, MessageKind
from intake.selectors import attachment_open, report_content, report_thread
from intake.services import content_view_record, identity_reveal
from intake.validators import CONTROL_CHARACTERS, check_no_control_characters, parse_id
from intake.views import signing_safe_disposition
from triage import workflow
from triage.deadlines import DeadlineState, case_deadlines, workdays_left, workdays_waited
from triage.models import CLOSED_STATES, Case, CaseEvent, CaseStatus, Category, Department, ReplyTemplate
from triage.publication import can_publish
from triage.selectors import (
    ALL,
    OPEN,
    OPEN_STATES,
    CappedPaginator,
    CaseFilters,
    ContentAccess,
    cases_visible_to,
    console_list,
    content_access,
    departments_by_area,
    worst_deadline_state,
)
from triage.workdays import WorkCalendar
from triage.workflow import ACTIONS, EVENT_LABELS, Role, WorkflowError, actions_for, roles_of

PAGE_SIZE = 50
CONSOLE_ROLES = frozenset({Role.HANDLER, Role.HEAD, Role.LEADERSHIP, Role.AUDITOR})
DEPARTMENT_FILTER_ROLES = frozenset({Role.HEAD, Role.LEADERSHIP, Role.AUDITOR})
MAX_DUPLICATES_LISTED = 50


def console_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in and holding a console role (handler, head, leadership, auditor)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles_of(request.user) & CONSOLE_ROLES:  # type: ignore[arg-type]
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


# --- the queue -------------------------------------------------------------------------------

STATE_LABELS = {s.value: s.label for s in DeadlineState}


class ConsoleFilterForm(forms.Form):
    deadline_state = forms.ChoiceField(label=_lazy("期限状态"), required=False,
                                       choices=[("", _lazy("全部")), *DeadlineState.choices])
    channel = forms.ChoiceField(label=_lazy("渠道"), required=False, choices=[("", _lazy("全部")), *Channel.choices])
    category = forms.TypedChoiceField(label=_lazy("类别"), required=False, coerce=int, empty_value=None, choices=())
    matter_type = forms.ChoiceField(label=_lazy("事项类型"), required=False,
                                    choices=[("", _lazy("全部")), *MatterType.choices])
    supervised = forms.TypedChoiceField(
        label=_lazy("督办"), required=False, empty_value=None, coerce=lambda v: v == "1",
        choices=[("", _lazy("全部")), ("1", _lazy("督办件")), ("0", _lazy("非督办件"))],
    )
    department = forms.ModelChoiceField(label=_lazy("部门"), required=False, queryset=Department.objects.none(),
                                        empty_label=_lazy("全部"))
    # Drill-down from a dashboard figure (triage/dashboard.py builds these links).
    created_from = DayField(label=_lazy("收到日期自"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    created_to = DayField(label=_lazy("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    place = forms.CharField(required=False, max_length=12, widget=forms.HiddenInput)
    flag = forms.CharField(required=False, max_length=24, widget=forms.HiddenInput)
    term = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = [("", _("全部")), *Category.objects.values_list("pk", "name")]
        roles = roles_of(user)
        if user.is_superuser or roles & {Role.LEADERSHIP, Role.AUDITOR}:
            departments = Department.objects.filter(is_active=True)
        elif Role.HEAD in roles and hasattr(user, "staff_profile"):
            departments = Department.objects.filter(path__startswith=user.staff_profile.department.path)
        else:
            del self.fields["department"]  # a handler's queue is one department already
            return
        field = self.fields["department"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = departments.only("pk", "name", "path")


@dataclass(frozen=True)
class QueueRow:
    case: Case
    channel_label: str
    state: str
    state_label: str
    time_left: timedelta | None
    extension_pending: bool = False
    workdays_left: float | None = None
    # An open case with no running clock: working days since it was registered.
    waited: float | None = None


def _rows(cases: list[Case], now: datetime) -> list[QueueRow]:
    channels = dict(Channel.choices)
    calendar = WorkCalendar()
    rows = []
    for case in cases:
        state = worst_deadline_state(case.open_deadlines, now=now)  # type: ignore[attr-defined]
        left = None
        if case.due_at is not None:
            left = case.due_at - (case.suspended_at or now)
        rows.append(QueueRow(case=case, channel_label=str(channels.get(case.channel, "")),  # type: ignore[attr-defined]
                             state=state.value if state else "", state_label=str(state.label) if state else "",
                             time_left=left,
                             extension_pending=any(d.requested_extension for d in case.open_deadlines),  # type: ignore[attr-defined]
                             workdays_left=workdays_left(case.due_at, case.suspended_at or now, calendar),
                             waited=_waited(case, now, calendar)))
    return rows


def _waited(case: Case, now: datetime, calendar: WorkCalendar) -> float | None:
    if case.due_at is not None or case.status not in OPEN_STATES:
        return None
    return workdays_waited(case.created_at, now, calendar)


@require_safe
@console_required
def queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ConsoleFilterForm(request.GET or None, user=user)
    status = request.GET.get("status") or OPEN
    if status not in {OPEN, ALL, *CaseStatus.values}:
        status = OPEN
    filters = CaseFilters(status=status)
    if form.is_valid():
        data = form.cleaned_data
        filters = CaseFilters(status=status, deadline_state=data["deadline_state"], channel=data["channel"],
                              category=data["category"], matter_type=data["matter_type"],
                              supervised=data["supervised"], department=data.get("department"),
                              created_from=data["created_from"], created_to=data["created_to"], place=data["place"],
                              flag=data["flag"], term=data["term"])
    now = timezone.now()
    # The tabs count every status; the current tab's number is the list's count.
    cases, counts = console_list(user=user, filters=filters, now=now)
    paginator = CappedPaginator(cases, PAGE_SIZE, known_count=counts.get(status, 0))
    page = paginator.get_page(request.GET.get("page"))
    tabs = [(OPEN, _("待办")), *((s.value, s.label) for s in CaseStatus if s != CaseStatus.RECEIVED), (ALL, _("全部"))]
    return render(request, "triage/console/queue.html", {
        "form": form, "page": page, "rows": _rows(list(page.object_list), now), "status": status,
        "tabs": [(key, label, counts.get(key, 0)) for key, label in tabs],
        "capped": paginator.capped, "cap": paginator.cap,
        "drill": bool(filters.flag or filters.place or filters.term),
    })


# --- the case page -----------------------------------------------------------------------------

TEXT_ERRORS = {"required": _lazy("请填写此项。"), "max_length": _lazy("内容不能超过 %(limit_value)d 个字。")}


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_lazy("理由"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}),
                             error_messages=TEXT_ERRORS, validators=[check_no_control_characters])


class TextForm(forms.Form):
    text = forms.CharField(label=_lazy("内容"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}),
                           error_messages=TEXT_ERRORS)


class ConfirmForm(forms.Form):
    """A final step that cannot be taken back (the reply goes to the reporter): one tick,
    so a stray click on a page of cases cannot send it."""

    confirm = forms.BooleanField(label=_lazy("已核对答复内容，确认发送给反映人并办结"),
                                 error_messages={"required": _lazy("请勾选确认后再提交。")})


class TransferForm(ReasonForm):
    to = forms.ModelChoiceField(label=_lazy("转至部门"), queryset=Department.objects.filter(is_active=True),
                                error_messages={"required": _lazy("请选择转办部门。"),
                                                "invalid_choice": _lazy("请选择有效的部门。")})

    field_order = ["to", "reason"]


class ExtensionForm(ReasonForm):
    amount = forms.IntegerField(label=_lazy("延期时长"), min_value=1, max_value=365,
                                error_messages={"required": _lazy("请填写延期时长。"),
                                                "invalid": _lazy("延期时长须为整数。"),
                                                "min_value": _lazy("延期时长至少为 1。"),
                                                "max_value": _lazy("延期时长过长。")})

    field_order = ["amount", "reason"]


class ExtensionNoticeForm(forms.Form):
    reason = forms.CharField(label=_lazy("告知反映人的延期理由"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}), error_messages=TEXT_ERRORS,
                             validators=[check_no_control_characters],
                             help_text=_lazy("将连同新的办理期限告知反映人，请勿写入内部信息。"))


class NoteForm(forms.Form):
    text = forms.CharField(label=_lazy("内部备注"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
                           error_messages=TEXT_ERRORS, help_text=_lazy("加密保存，反映人看不到。"))


class GrantForm(forms.Form):
    reason = forms.CharField(label=_lazy("查看理由"), min_length=4, max_length=500,
                             validators=[check_no_control_characters],
                             error_messages={"required": _lazy("查看内容须说明理由。"),
                                             "min_length": _lazy("查看内容须说明理由（至少 4 个字）。")})


class RevealForm(forms.Form):
    reason = forms.CharField(label=_lazy("查看理由"), min_length=4, max_length=500,
                             validators=[check_no_control_characters],
                             error_messages={"required": _lazy("查看反映人身份须说明理由。"),
                                             "min_length": _lazy("查看反映人身份须说明理由（至少 4 个字）。")})


# The parts of a revealed identity, in the order shown (intake stores only those given).
IDENTITY_FIELDS = (("name", _lazy("姓名")), ("mobile", _lazy("手机号码")), ("id_number", _lazy("身份证号")),
                   ("caller_number", _lazy("来电号码")), ("representatives", _lazy("来访代表")))


Service = Callable[[Case, User, dict[str, Any]], Case]
W = workflow

# action -> (form of its fields or None, the service call)
TRANSITIONS: dict[str, tuple[type[forms.Form] | None, Service]] = {
    "accept": (None, lambda c, u, d: W.case_accept(case=c, user=u)),
    "decline": (ReasonForm, lambda c, u, d: W.case_decline(case=c, user=u, reason=d["reason"])),
    "return_to_triage": (ReasonForm, lambda c, u, d: W.case_return_to_triage(case=c, user=u, reason=d["reason"])),
    "start": (None, lambda c, u, d: W.case_start(case=c, user=u)),
    "draft_reply": (TextForm, lambda c, u, d: W.case_draft_reply(case=c, user=u, text=d["text"])),
    "submit_review": (None, lambda c, u, d: W.case_submit_for_review(case=c, user=u)),
    "approve": (ConfirmForm, lambda c, u, d: W.case_approve(case=c, user=u)),
    "send_back": (ReasonForm, lambda c, u, d: W.case_send_back(case=c, user=u, reason=d["reason"])),
    "transfer": (TransferForm, lambda c, u, d: W.case_transfer(case=c, user=u, to=d["to"], reason=d["reason"])),
    "transfer_accept": (None, lambda c, u, d: W.case_transfer_accept(case=c, user=u)),
    "transfer_return": (ReasonForm, lambda c, u, d: W.case_transfer_return(case=c, user=u, reason=d["reason"])),
    "transfer_withdraw": (ReasonForm, lambda c, u, d: W.case_transfer_withdraw(case=c, user=u, reason=d["reason"])),
    "extension_request": (ExtensionForm, lambda c, u, d: W.case_extension_request(
        case=c, user=u, amount=d["amount"], reason=d["reason"])),
    "extension_approve": (ExtensionNoticeForm, lambda c, u, d: W.case_extension_approve(
        case=c, user=u, reason=d["reason"])),
    "extension_reject": (ReasonForm, lambda c, u, d: W.case_extension_reject(case=c, user=u, reason=d["reason"])),
    "suspend": (ReasonForm, lambda c, u, d: W.case_suspend(case=c, user=u, reason=d["reason"])),
    "ask_question": (TextForm, lambda c, u, d: W.case_ask_question(case=c, user=u, text=d["text"])),
    "resume": (None, lambda c, u, d: W.case_resume(case=c, user=u)),
    "supervise": (None, lambda c, u, d: W.case_supervise(case=c, user=u)),
    "unsupervise": (None, lambda c, u, d: W.case_unsupervise(case=c, user=u)),
    "archive": (None, lambda c, u, d: W.case_archive(case=c, user=u)),
}
# Field labels that say what the text is for.
TEXT_LABELS = {"draft_reply": _lazy("答复意见"), "ask_question": _lazy("向反映人询问的问题")}
PRIMARY = {"accept", "start", "submit_review", "approve", "transfer_accept"}


@dataclass
class ActionForm:
    name: str
    label: str
    form: forms.Form | None
    primary: bool
    error: str = ""


def _action_form(name: str, label: str, *, data: Any = None, initial: dict[str, Any] | None = None,
                 case: Case | None = None) -> ActionForm:
    form_class, _service = TRANSITIONS[name]
    form = form_class(data, prefix=name, initial=initial) if form_class is not None else None
    if form is not None and name in TEXT_LABELS:
        form.fields["text"].label = TEXT_LABELS[name]
    if isinstance(form, TransferForm) and case is not None:
        to = form.fields["to"]
        assert isinstance(to, forms.ModelChoiceField)
        to.queryset = Department.objects.filter(is_active=True).exclude(pk=case.department_id or 0)
        # Grouped by area (short names) in tree order; the queryset still validates the choice.
        to.choices = [("", "---------"), *departments_by_area(to.queryset, area_label=lambda area: area.name)]
    if isinstance(form, ExtensionForm) and case is not None:
        bounds = workflow.extension_bounds(case)
        if bounds is not None:
            form.fields["amount"].help_text = _("可延长 1 至 %(n)d %(u)s。") % {
                "n": bounds[0], "u": bounds[1]}
    return ActionForm(name=name, label=label, form=form, primary=name in PRIMARY)


def _current_draft(case: Case, exchange: list[Any]) -> str:
    """The text of the reply awaiting release (`workflow.current_draft`), from the thread
    already decrypted for the page."""
    draft = workflow.current_draft(case)
    return next((m.body for m in exchange if draft is not None and m.id == str(draft.pk)), "")


def _case_or_404(request: HttpRequest, case_id: int) -> Case:
    case = (cases_visible_to(_user(request))
            .select_related("report", "category", "department", "transfer_to", "duplicate_of")
            .filter(pk=case_id).first())
    if case is None:  # out of scope looks the same as missing
        raise Http404
    return case


@dataclass(frozen=True)
class EventRow:
    seq: int
    at: datetime
    label: str
    from_label: str
    to_label: str
    actor: str


ACTOR_KINDS = {"citizen": _lazy("反映人"), "system": _lazy("系统")}


def _events(case: Case) -> list[EventRow]:
    statuses = dict(CaseStatus.choices)
    rows = []
    for e in CaseEvent.objects.filter(case=case).select_related("actor").order_by("seq"):
        actor = e.actor.get_username() if e.actor else str(ACTOR_KINDS.get(e.actor_kind, e.actor_kind))
        rows.append(EventRow(seq=e.seq, at=e.at, label=str(EVENT_LABELS.get(e.kind, e.kind)),
                             from_label=str(statuses.get(e.from_status, "")),
                             to_label=str(statuses.get(e.to_status, "")), actor=actor))
    return rows


def _case_page(request: HttpRequest, case: Case, *, content: Any = None, grant_reason: str = "",
               failed: ActionForm | None = None, note_form: NoteForm | None = None,
               grant_form: GrantForm | None = None, identity: dict[str, Any] | None = None,
               reveal_form: RevealForm | None = None, status: int = 200) -> HttpResponse:
    user = _user(request)
    access = content_access(user=user, case=case)
    if content is None and access == ContentAccess.DIRECT:
        # Every human view of content is an audit record; the content itself is never logged.
        content_view_record(report=case.report, user=user, kind=AccessKind.VIEW_CONTENT)
        content = report_content(case.report)
    thread = report_thread(case.report, for_reporter=False) if content is not None else []
    notes = [m for m in thread if m.kind in (MessageKind.INTERNAL,) or (
        m.kind == MessageKind.NOTE and not m.visible_to_reporter)]
    exchange = [m for m in thread if m not in notes]
    templates = list(ReplyTemplate.objects.filter(is_active=True)) if content is not None else []
    action_forms = []
    for available in actions_for(user=user, case=case):
        if failed is not None and failed.name == available.name:
            action_forms.append(failed)
            continue
        initial = None
        if available.name == "draft_reply":
            # The draft as it stands (revised after 退回修改, not retyped).
            text = _current_draft(case, exchange)
            initial = {"text": text} if text else None
        action_forms.append(_action_form(available.name, available.label, initial=initial, case=case))
    visible = cases_visible_to(user)
    duplicates = list(visible.filter(duplicate_of=case).order_by("pk")
                      .only("pk", "created_at", "status")[:MAX_DUPLICATES_LISTED])
    duplicate_count = len(duplicates) if len(duplicates) < MAX_DUPLICATES_LISTED else (
        visible.filter(duplicate_of=case).count())
    rating = Feedback.objects.filter(report_id=case.report_id).values_list("rating", flat=True).first()
    return render(request, "triage/console/case.html", {
        "case": case, "access": access.value, "content": content, "grant_reason": grant_reason,
        "grant_form": grant_form or GrantForm(), "thread": exchange, "notes": notes,
        "deadlines": case_deadlines(case=case), "action_forms": action_forms,
        "waited": _waited(case, timezone.now(), WorkCalendar()),
        "forms_by_name": {f.name: f for f in action_forms}, "templates": templates,
        "can_note": content is not None and workflow.can_note(user=user, case=case),
        "note_form": note_form or NoteForm(), "duplicates": duplicates, "duplicate_count": duplicate_count,
        "events": _events(case), "rating": rating, "failed": failed,
        "matter_label": dict(MatterType.choices).get(case.matter_type, case.matter_type),
        # A head reaches the publish page of a closed case from here (it had no link).
        "can_publish": case.status in CLOSED_STATES and can_publish(user=user, case=case),
        "can_reveal": _may_reveal(user, case) and identity is None,
        "reveal_form": reveal_form or RevealForm(),
        "identity": _identity_rows(identity),
    }, status=status)


def _may_reveal(user: User, case: Case) -> bool:
    """A head of the department handling the case (or above it), not one a transfer is only
    offered to, nor anyone who holds the permission without being a head (a superuser)."""
    return (case.report.is_named and user.has_perm("intake.reveal_identity") and Role.HEAD in roles_of(user)
            and workflow.covers(user, Role.HEAD, case.department))


def _identity_rows(identity: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    if identity is None:
        return None
    rows = []
    for key, label in IDENTITY_FIELDS:
        value = identity.get(key)
        if value:
            rows.append((str(label), "、".join(value) if isinstance(value, list) else str(value)))
    return rows


@require_GET  # not HEAD: opening the page decrypts the content and records a view
@console_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    return _case_page(request, _case_or_404(request, case_id))


def _may_act(user: User) -> None:
    """Auditors (and anyone without a handling role) read only: every POST is refused."""
    if not roles_of(user) & {Role.HANDLER, Role.HEAD, Role.LEADERSHIP}:
        raise PermissionDenied


@require_POST
@console_required
def case_act(request: HttpRequest, case_id: int) -> HttpResponse:
    """One transition. Bad input or a refused transition re-renders the page with the
    message (400) and stores nothing: each service is one transaction."""
    user = _user(request)
    _may_act(user)
    case = _case_or_404(request, case_id)
    name = request.POST.get("action", "")
    if name not in TRANSITIONS:
        failed = ActionForm(name="", label="", form=None, primary=False, error=_("未知操作。"))
        return _case_page(request, case, failed=failed, status=400)
    action = ACTIONS[name]
    # A role that can never take this action on this case is a permission matter (403); the
    # wrong moment (state, pending requests) is a message on the page (400).
    if not any(workflow.covers(user, role, case.transfer_to if action.on_transfer_target else case.department)
               for role in roles_of(user) & action.roles):
        raise PermissionDenied
    _form_class, service = TRANSITIONS[name]
    if name == "draft_reply" and "template" in request.POST:
        return _with_template(request, case, str(action.label))
    form = _action_form(name, str(action.label), data=request.POST, case=case)
    data: dict[str, Any] = {}
    if form.form is not None:
        if not form.form.is_valid():
            form.error = _("请按提示填写后再提交。")
            return _case_page(request, case, failed=form, status=400)
        data = form.form.cleaned_data
    try:
        service(case, user, data)
    except WorkflowError as exc:
        form.error = str(exc)
        return _case_page(request, case, failed=form, status=400)
    messages.success(request, _("已%(a)s。") % {"a": action.label})
    if not cases_visible_to(user).filter(pk=case.pk).exists():
        # Out of this user's reach now (returned to triage, transferred away): back to the list.
        messages.info(request, _("案件%(n)s已不在您的办理范围内。") % {"n": case.number})
        return redirect("console-queue")
    return redirect("console-case", case_id=case.pk)


def _with_template(request: HttpRequest, case: Case, label: str) -> HttpResponse:
    """A reply template added to the text typed so far (not replacing it), shown for
    editing; nothing is stored until the handler saves the draft. A button of the draft's
    own form, so the typed text travels with it without JavaScript."""
    pk = parse_id(request.POST.get("template"))
    template = ReplyTemplate.objects.filter(is_active=True, pk=pk).first() if pk is not None else None
    if template is None:
        failed = ActionForm(name="", label=label, form=None, primary=False, error=_("该答复模板已停用或不存在。"))
        return _case_page(request, case, failed=failed, status=400)
    typed = (request.POST.get("draft_reply-text") or "").rstrip()
    text = f"{typed}\n\n{template.body}" if typed.strip() else template.body
    form = _action_form("draft_reply", label, initial={"text": text}, case=case)
    return _case_page(request, case, failed=form)


@require_POST
@console_required
def case_note(request: HttpRequest, case_id: int) -> HttpResponse:
    user = _user(request)
    _may_act(user)
    case = _case_or_404(request, case_id)
    if not workflow.can_note(user=user, case=case):
        raise PermissionDenied
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            workflow.case_note_add(case=case, user=user, text=form.cleaned_data["text"])
        except WorkflowError as exc:
            form.add_error("text", str(exc))
        else:
            messages.success(request, _("内部备注已保存。"))
            return redirect("console-case", case_id=case.pk)
    return _case_page(request, case, note_form=form, status=400)


@require_POST
@console_required
def case_content(request: HttpRequest, case_id: int) -> HttpResponse:
    """Leadership's grant: the stated reason is recorded before the content is shown."""
    user = _user(request)
    case = _case_or_404(request, case_id)
    if content_access(user=user, case=case) != ContentAccess.GRANT:
        raise PermissionDenied
    form = GrantForm(request.POST)
    if not form.is_valid():
        return _case_page(request, case, grant_form=form, status=400)
    reason = form.cleaned_data["reason"]
    content_view_record(report=case.report, user=user, kind=AccessKind.VIEW_CONTENT, reason=reason)
    return _case_page(request, case, content=report_content(case.report), grant_reason=reason)


@require_POST
@console_required
def case_identity(request: HttpRequest, case_id: int) -> HttpResponse:
    """A head's explicit reveal of a named reporter's identity: a stated reason and an
    access record first, then the identity in this response only (never kept, never in
    a URL; the page is not cached). Out-of-scope cases are a 404 like any other."""
    user = _user(request)
    case = _case_or_404(request, case_id)
    if not _may_reveal(user, case):
        raise PermissionDenied
    form = RevealForm(request.POST)
    if not form.is_valid():
        return _case_page(request, case, reveal_form=form, status=400)
    identity = identity_reveal(report=case.report, user=user, reason=form.cleaned_data["reason"])
    return _case_page(request, case, identity=identity)


@require_POST
@console_required
def case_attachment(request: HttpRequest, case_id: int) -> HttpResponse:
    """An attachment of the case's report, by POST; each download is an access record."""
    user = _user(request)
    case = _case_or_404(request, case_id)
    access = content_access(user=user, case=case)
    # The reason the content grant recorded, carried by the page's download forms: what
    # spreadsheets and PostgreSQL refuse is dropped rather than stored with the download.
    reason = CONTROL_CHARACTERS.sub("", request.POST.get("reason") or "").strip()
    if access == ContentAccess.NONE or (access == ContentAccess.GRANT and len(reason) < 4):
        raise PermissionDenied
    try:
        attachment = Attachment.objects.select_related("report").get(
            pk=uuid.UUID(request.POST.get("attachment", "")), report_id=case.report_id)
    except (ValueError, Attachment.DoesNotExist):
        raise Http404 from None
    content_view_record(report=case.report, user=user, kind=AccessKind.DOWNLOAD_ATTACHMENT, reason=reason[:500])
    name, data = attachment_open(attachment)
    response = HttpResponse(data, content_type=attachment.mime)
    response["Content-Disposition"] = signing_safe_disposition(name)
    response["Cache-Control"] = "no-store"
    return response

