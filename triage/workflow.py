"""The case workflow: one state machine. `ACTIONS` lists every transition with the states
it leaves, the state it enters, the roles that may make it and where they must work; each
transition is a service below that checks its guards under the case's row lock, changes
the case and its deadlines, and appends a `CaseEvent` in the same transaction.

Roles are Django groups (triage/demo.py): handler (own department), department_head (own
department and its sub-departments), leadership (everywhere; supervision and archiving),
auditor (reads only), and the triage officer (permission triage.triage_case, within the
officer's scope). Superusers act as every role but auditor, everywhere.

Deadline effects: registering starts 登记交办; routing meets it and starts 受理告知;
accepting meets that and starts 办理; releasing the reply (approve) or not accepting closes
the case and meets what is running; 挂起 and asking the citizen a question stop every clock
until 恢复 or the citizen's answer; 延期 adds to 办理 within the policy's bounds; a review
request (复查, then 复核 as the last round) reopens the case under the 复查 deadline.

Reasons, replies and questions are free text and go into the report's encrypted message
thread (internal ones hidden from the reporter); events carry only the message id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from intake.models import Message, MessageDirection, MessageKind
from intake.services import SubmissionError, message_post
from triage import deadlines
from triage.audit import event_append, events_append_locked
from triage.models import CLOSED_STATES, Case, CaseStatus, Department, ReplyTemplate
from triage.workflow_models import Deadline, DeadlineKind

S = CaseStatus
MAX_REVIEW_ROUNDS = 2  # 复查, then 复核: the 复核 opinion is final (信访工作条例)


class WorkflowError(Exception):
    """A transition that is not allowed now; the message is for the user (Chinese)."""


class Role(StrEnum):
    TRIAGE_OFFICER = "triage_officer"
    HANDLER = "handler"
    HEAD = "department_head"
    LEADERSHIP = "leadership"
    AUDITOR = "auditor"


STAFF_ROLES = frozenset(Role)
HANDLERS = frozenset({Role.HANDLER, Role.HEAD})
ACTIVE_HANDLING = frozenset({S.ASSIGNED, S.ACCEPTED, S.IN_PROGRESS})


def roles_of(user: User) -> frozenset[Role]:
    """The workflow roles of a staff user (cached on the user object for one request)."""
    cached = getattr(user, "_workflow_roles", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    roles: set[Role] = set()
    if user.is_active:
        if user.is_superuser:
            roles = set(STAFF_ROLES - {Role.AUDITOR})
        else:
            names = set(user.groups.values_list("name", flat=True))
            roles = {role for role in Role if role.value in names}
            if user.has_perm("triage.triage_case"):
                roles.add(Role.TRIAGE_OFFICER)
    result = frozenset(roles)
    user._workflow_roles = result  # type: ignore[attr-defined]
    return result


def _home(user: User) -> Department | None:
    profile = getattr(user, "staff_profile", None)
    return profile.department if profile is not None else None


def covers(user: User, role: Role, department: Department | None) -> bool:
    """Whether `role`, held by this user, reaches a case of `department`."""
    if user.is_superuser or role == Role.LEADERSHIP:
        return True
    home = _home(user)
    if home is None or role == Role.AUDITOR:
        return False
    if role == Role.TRIAGE_OFFICER:
        from triage.selectors import scope_root

        root = scope_root(user)
        return department is None or (root is not None and department.path.startswith(root.path))
    if department is None:
        return False
    if role == Role.HANDLER:
        return department.pk == home.pk
    return department.path.startswith(home.path)  # head: own department and sub-departments


# --- the table ---------------------------------------------------------------------------

CaseCheck = Callable[[Case], "str | Promise | None"]
UserCheck = Callable[[Case, User], "str | Promise | None"]


def _not_suspended(case: Case) -> str | Promise | None:
    return _("案件已挂起，请先恢复。") if case.suspended_at else None


def _no_transfer_pending(case: Case) -> str | Promise | None:
    return _("案件转办待对方接收，暂不能办理。") if case.transfer_to_id else None


def _transfer_pending(case: Case) -> str | Promise | None:
    return None if case.transfer_to_id else _("没有待接收的转办。")


def _suspended(case: Case) -> str | Promise | None:
    return None if case.suspended_at else _("案件未挂起。")


def _extension_requestable(case: Case) -> str | Promise | None:
    clock = _handling_clock(case)
    if clock is None:
        return _("没有正在计时的办理期限。")
    if clock.requested_extension:
        return _("已有延期申请待审批。")
    left, _most = deadlines.extension_limits(clock)
    if left < 1:
        return _("延期次数已用完。")
    return _lapsed(clock, _("办理期限已过，不能再申请延期：延期须在期限内申请并获批准。"))


def _lapsed(clock: Deadline, message: str | Promise) -> str | Promise | None:
    """An extension lengthens a running period (信访工作条例: approved within the handling
    period, the reporter told why); a period already lapsed stays lapsed."""
    return message if deadlines.deadline_state(clock) == deadlines.DeadlineState.OVERDUE else None


def _extension_pending(case: Case) -> str | Promise | None:
    clock = _handling_clock(case)
    return None if clock is not None and clock.requested_extension else _("没有待审批的延期申请。")


def _extension_approvable(case: Case) -> str | Promise | None:
    clock = _handling_clock(case)
    if clock is None or not clock.requested_extension:
        return _("没有待审批的延期申请。")
    return _lapsed(clock, _("办理期限已过，延期申请不能再批准，请作不批准处理。"))


def _review_window_passed(case: Case) -> str | Promise | None:
    if case.closed_at and timezone.now() > deadlines.review_request_until(case.closed_at):
        return None
    return _("复查申请期限未满，暂不能归档。")


def _reviewable(case: Case) -> str | Promise | None:
    return None if case.review_round < MAX_REVIEW_ROUNDS else _("复核意见为最终意见，不能再申请复查。")


@dataclass(frozen=True)
class Action:
    name: str
    label: str | Promise
    sources: frozenset[str]
    target: str | None  # the state entered; None: unchanged (or decided by the service)
    roles: frozenset[Role]  # empty: only the system or the citizen
    checks: tuple[CaseCheck, ...] = ()
    on_transfer_target: bool = False  # the role must reach case.transfer_to, not case.department
    user_checks: tuple[UserCheck, ...] = ()  # about this user and the case (after the role check)


def _a(name: str, label: str | Promise, sources: Iterable[str], target: str | None,
       roles: frozenset[Role] | set[Role], *checks: CaseCheck, on_transfer_target: bool = False,
       user_checks: tuple[UserCheck, ...] = ()) -> Action:
    return Action(name, label, frozenset(sources), target, frozenset(roles), checks, on_transfer_target, user_checks)


def _not_own_draft(case: Case, user: User) -> str | Promise | None:
    """Four eyes: whoever wrote the reply may not also approve it (the button is not offered)."""
    draft = current_draft(case)
    return _("审核人不能审核自己拟写的答复。") if draft is not None and draft.author_id == user.pk else None


RUNNING = (_not_suspended, _no_transfer_pending)
ACTIONS: dict[str, Action] = {a.name: a for a in [
    _a("register", _("登记"), set(), S.RECEIVED, set()),
    _a("route", _("自动分流"), {S.RECEIVED}, None, set()),
    _a("triage_accept", _("分流交办"), {S.AWAITING_TRIAGE}, S.ASSIGNED, {Role.TRIAGE_OFFICER}),
    _a("triage_correct", _("更正分流"), {S.AWAITING_TRIAGE, S.ASSIGNED}, S.ASSIGNED, {Role.TRIAGE_OFFICER},
       _no_transfer_pending),
    _a("triage_merge", _("合并"), {S.AWAITING_TRIAGE}, None, {Role.TRIAGE_OFFICER}),
    _a("triage_split", _("拆分"), {S.AWAITING_TRIAGE}, None, {Role.TRIAGE_OFFICER}),
    _a("accept", pgettext_lazy("workflow action", "受理"), {S.ASSIGNED}, S.ACCEPTED, HANDLERS, *RUNNING),
    _a("decline", _("不予受理"), {S.ASSIGNED}, S.NOT_ACCEPTED, HANDLERS, *RUNNING),
    _a("return_to_triage", _("退回分流"), {S.ASSIGNED}, S.AWAITING_TRIAGE, HANDLERS, *RUNNING),
    _a("start", _("开始办理"), {S.ACCEPTED}, S.IN_PROGRESS, HANDLERS, *RUNNING),
    _a("draft_reply", _("拟写答复"), {S.IN_PROGRESS, S.DRAFTED}, S.DRAFTED, HANDLERS, *RUNNING),
    _a("submit_review", _("提交审核"), {S.DRAFTED}, S.IN_REVIEW, HANDLERS, *RUNNING),
    _a("approve", _("审核通过并答复"), {S.IN_REVIEW}, S.CLOSED, {Role.HEAD}, *RUNNING, user_checks=(_not_own_draft,)),
    _a("send_back", _("退回修改"), {S.IN_REVIEW}, S.IN_PROGRESS, {Role.HEAD}, *RUNNING),
    _a("transfer", _("转办"), ACTIVE_HANDLING, None, HANDLERS, *RUNNING),
    _a("transfer_accept", _("接收转办"), ACTIVE_HANDLING, S.ASSIGNED, HANDLERS, _transfer_pending,
       on_transfer_target=True),
    _a("transfer_return", _("退回转办"), ACTIVE_HANDLING, None, HANDLERS, _transfer_pending,
       on_transfer_target=True),
    # The sender takes back a transfer not yet accepted (a mistaken one): the case is theirs
    # all along, its clocks never stopped.
    _a("transfer_withdraw", _("撤回转办"), ACTIVE_HANDLING, None, HANDLERS, _transfer_pending),
    _a("extension_request", _("申请延期"), {S.ACCEPTED, S.IN_PROGRESS, S.DRAFTED}, None, HANDLERS, *RUNNING,
       _extension_requestable),
    _a("extension_approve", _("批准延期"), {S.ACCEPTED, S.IN_PROGRESS, S.DRAFTED}, None, {Role.HEAD},
       _extension_approvable),
    _a("extension_reject", _("不批准延期"), {S.ACCEPTED, S.IN_PROGRESS, S.DRAFTED}, None, {Role.HEAD},
       _extension_pending),
    _a("suspend", pgettext_lazy("workflow action", "挂起"), ACTIVE_HANDLING, None, HANDLERS, *RUNNING),
    _a("ask_question", _("询问反映人"), ACTIVE_HANDLING, None, HANDLERS, *RUNNING),
    _a("resume", _("恢复"), ACTIVE_HANDLING, None, HANDLERS, _suspended),
    _a("supervise", _("督办"), set(S) - {S.ARCHIVED}, None, {Role.LEADERSHIP},
       lambda c: _("已在督办中。") if c.supervised else None),
    # The escalation ladder of overdue cases (notifications): a system step, no role.
    _a("escalate", _("超期督促"), set(S) - {S.ARCHIVED}, None, set()),
    _a("unsupervise", _("取消督办"), set(S) - {S.ARCHIVED}, None, {Role.LEADERSHIP},
       lambda c: None if c.supervised else _("未在督办中。")),
    _a("rate", _("评价"), {S.CLOSED}, S.RATED, set()),
    _a("review_request", _("申请复查"), {S.CLOSED, S.RATED, S.NOT_ACCEPTED}, None, set(), _reviewable),
    _a("citizen_answer", _("反映人答复"), ACTIVE_HANDLING, None, set()),
    _a("archive", _("归档"), {S.CLOSED, S.RATED, S.NOT_ACCEPTED}, S.ARCHIVED, {Role.HEAD, Role.LEADERSHIP},
       _review_window_passed),
]}


def _refusal(action: Action, *, user: User | None, case: Case) -> str | None:
    """Why `user` (None: the system or the citizen) may not take `action` now, or None."""
    if case.status not in action.sources:
        return str(_("案件当前状态（%(s)s）不能%(a)s。") % {"s": case.get_status_display(), "a": action.label})
    for check in action.checks:
        message = check(case)
        if message:
            return str(message)
    if user is not None:
        department = case.transfer_to if action.on_transfer_target else case.department
        if not any(covers(user, role, department) for role in roles_of(user) & action.roles):
            return str(_("您无权对该案件执行“%(a)s”。") % {"a": action.label})
        for user_check in action.user_checks:
            message = user_check(case, user)
            if message:
                return str(message)
    return None


@dataclass(frozen=True)
class AvailableAction:
    name: str
    label: str


def actions_for(*, user: User, case: Case) -> list[AvailableAction]:
    """The transitions this staff user may make on this case now (one button each)."""
    return [AvailableAction(a.name, str(a.label)) for a in ACTIONS.values()
            if a.roles and _refusal(a, user=user, case=case) is None]


def can(*, user: User, case: Case, action: str) -> bool:
    act = ACTIONS[action]
    return bool(act.roles) and _refusal(act, user=user, case=case) is None


# --- helpers of the services --------------------------------------------------------------


def _lock(case: Case) -> Case:
    return (Case.objects.select_for_update(of=("self",)).select_related("report", "department", "transfer_to")
            .get(pk=case.pk))


def _authorize(name: str, *, user: User | None, case: Case) -> Action:
    action = ACTIONS[name]
    if user is not None and not action.roles:
        raise WorkflowError(_("该操作只能由系统或反映人发起。"))
    refusal = _refusal(action, user=user, case=case)
    if refusal:
        raise WorkflowError(refusal)
    return action


def _required(text: str, message: str | Promise) -> str:
    text = (text or "").strip()
    if len(text) < 2:
        raise WorkflowError(message)
    return text


def _post(case: Case, *, user: User | None, kind: str, text: str, visible: bool) -> Message:
    try:
        return message_post(report=case.report, direction=MessageDirection.TO_REPORTER, kind=kind, text=text,
                            author=user, visible_to_reporter=visible)
    except SubmissionError as exc:  # too long, say: the same words the citizen's form shows
        raise WorkflowError("；".join(str(m) for msgs in exc.errors.values() for m in msgs)) from exc


def _note(case: Case, *, user: User | None, text: str) -> str:
    """An internal note (a reason): encrypted with the report, never shown to the reporter."""
    return str(_post(case, user=user, kind=MessageKind.INTERNAL, text=text, visible=False).pk)


def _since_created(case: Case, at: datetime) -> timedelta:
    return at - case.created_at


def _mark_acknowledged(case: Case, at: datetime) -> None:
    if case.acknowledged_at is None:
        case.acknowledged_at, case.time_to_acknowledge = at, _since_created(case, at)


def _mark_first_reply(case: Case, at: datetime) -> None:
    if case.first_reply_at is None:
        case.first_reply_at, case.time_to_first_reply = at, _since_created(case, at)


def _mark_closed(case: Case, at: datetime) -> None:
    case.closed_at = at
    if case.time_to_close is None:
        case.time_to_close = _since_created(case, at)


def _commit(case: Case, action: Action, *, user: User | None, from_status: str, payload: dict[str, Any] | None = None,
            actor_kind: str = "staff", to_status: str | None = None) -> Case:
    """Save the case with its new state and due time, and append the event."""
    if to_status is not None:
        case.status = to_status
    elif action.target is not None:
        case.status = action.target
    deadlines.case_due_refresh(case)
    case.save()
    event_append(case=case, kind=action.name, from_status=from_status, to_status=case.status, actor=user,
                 actor_kind=actor_kind if user is None else "staff", payload=payload or {})
    return case


def _handling_clock(case: Case) -> Deadline | None:
    """The clock an extension applies to: the review deadline under review, else handling."""
    return deadlines.open_deadline(case=case, kind=DeadlineKind.REVIEW) or deadlines.open_deadline(
        case=case, kind=DeadlineKind.HANDLE)


def extension_bounds(case: Case) -> tuple[int, str] | None:
    """The most one extension of the case's clock may add, and its unit's name (None: no
    running clock). The form says it before anyone submits a number."""
    clock = _handling_clock(case)
    if clock is None:
        return None
    _left, most = deadlines.extension_limits(clock)
    return most, str(clock.get_unit_display())


def _require_clock(case: Case) -> Deadline:
    clock = _handling_clock(case)
    if clock is None:
        raise WorkflowError(_("没有正在计时的办理期限。"))
    return clock


def _assigned_clocks(case: Case, at: datetime) -> None:
    deadlines.deadline_meet(case=case, kind=DeadlineKind.TRANSFER, at=at)
    deadlines.deadline_start(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE, at=at)


# --- system and triage ----------------------------------------------------------------------


def case_register(*, case: Case) -> Case:
    """A new case (inside the submission transaction): the 登记交办 clock starts."""
    deadlines.deadline_start(case=case, kind=DeadlineKind.TRANSFER, at=case.created_at)
    return _commit(case, ACTIONS["register"], user=None, from_status="", actor_kind="system")


def case_routed(*, case: Case) -> Case:
    """After triage stored its decision on a locked case (RECEIVED → ASSIGNED or the queue)."""
    at = timezone.now()
    if case.status == S.ASSIGNED:
        _assigned_clocks(case, at)
    payload = {"department": case.department_id, "category": case.category_id,
               "queue_reason": case.queue_reason[:40] if case.queue_reason else ""}
    return _commit(case, ACTIONS["route"], user=None, from_status=S.RECEIVED, payload=payload, actor_kind="system")


# Case fields cases_routed() changes besides those of the decision itself.
ROUTED_FIELDS = ["due_at", "audit_seq", "audit_head"]


def cases_routed(cases: list[Case], *, at: datetime | None = None,
                 save: Callable[[list[Case]], object] | None = None) -> list[Case]:
    """case_routed for a batch of locked cases the triage worker decided: the same clocks,
    due dates and events, with a fixed number of queries for the whole batch. `save` is
    the caller's write of the cases (ROUTED_FIELDS with its own); it runs before the
    events are appended, as case_routed saves the case before its event, so that what
    follows the events (notifications) sees the cases routed."""
    if not cases:
        return cases
    at = at or timezone.now()
    deadlines.deadlines_routed(cases, assigned=[case for case in cases if case.status == S.ASSIGNED], at=at)
    event_entries = [
        (case, "route", str(S.RECEIVED), case.status,
         {"department": case.department_id, "category": case.category_id,
          "queue_reason": case.queue_reason[:40] if case.queue_reason else ""})
        for case in cases
    ]
    events_append_locked(event_entries, at=at, save=save)
    return cases


def triage_event(*, case: Case, user: User, action: str, from_status: str, payload: dict[str, Any]) -> Case:
    """The triage queue's actions (triage/services.py) on a locked case they changed."""
    at = timezone.now()
    if case.status == S.ASSIGNED and from_status == S.ASSIGNED:
        # Re-routed before acceptance: the new department's acceptance clock starts afresh.
        deadlines.deadline_cancel(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE, at=at)
        deadlines.deadline_start(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE, at=at)
    elif case.status == S.ASSIGNED:
        _assigned_clocks(case, at)
    return _commit(case, ACTIONS[action], user=user, from_status=from_status, payload=payload,
                   to_status=case.status)


def triage_authorize(*, case: Case, user: User, action: str) -> None:
    _authorize(action, user=user, case=case)


# --- the department's handling ------------------------------------------------------------


@transaction.atomic
def case_accept(*, case: Case, user: User) -> Case:
    """已交办 → 已受理: the acceptance notice is met and the handling clock starts."""
    case = _lock(case)
    action = _authorize("accept", user=user, case=case)
    at, from_status = timezone.now(), case.status
    deadlines.deadline_meet(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE, at=at)
    if deadlines.open_deadline(case=case, kind=DeadlineKind.REVIEW) is None:
        deadlines.deadline_start(case=case, kind=DeadlineKind.HANDLE, at=at)
    _mark_acknowledged(case, at)
    return _commit(case, action, user=user, from_status=from_status)


@transaction.atomic
def case_decline(*, case: Case, user: User, reason: str) -> Case:
    """不予受理: the reason is sent to the citizen as a notice, and the case closes."""
    case = _lock(case)
    action = _authorize("decline", user=user, case=case)
    reason = _required(reason, _("不予受理须写明理由，并将告知反映人。"))
    at, from_status = timezone.now(), case.status
    notice = _post(case, user=user, kind=MessageKind.NOTICE, text=reason, visible=True)
    for kind in (DeadlineKind.ACCEPTANCE_NOTICE, DeadlineKind.REVIEW):
        deadlines.deadline_meet(case=case, kind=kind, at=at)
    _mark_acknowledged(case, at)
    _mark_first_reply(case, at)
    _mark_closed(case, at)
    return _commit(case, action, user=user, from_status=from_status, payload={"notice": str(notice.pk)})


@transaction.atomic
def case_return_to_triage(*, case: Case, user: User, reason: str) -> Case:
    """A misrouted case goes back to the triage queue; it counts against routing."""
    case = _lock(case)
    action = _authorize("return_to_triage", user=user, case=case)
    reason = _required(reason, _("退回分流须说明原因。"))
    at, from_status, department_id = timezone.now(), case.status, case.department_id
    note = _note(case, user=user, text=reason)
    deadlines.deadline_cancel(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE, at=at)
    deadlines.deadline_start(case=case, kind=DeadlineKind.TRANSFER, at=at)
    case.department = None
    case.queue_reason = "returned"
    case.misroute_count += 1
    return _commit(case, action, user=user, from_status=from_status,
                   payload={"from_department": department_id, "note": note})


@transaction.atomic
def case_start(*, case: Case, user: User) -> Case:
    case = _lock(case)
    action = _authorize("start", user=user, case=case)
    return _commit(case, action, user=user, from_status=case.status)


@transaction.atomic
def case_draft_reply(*, case: Case, user: User, text: str) -> Case:
    """拟办结: the reply is stored encrypted and hidden from the citizen until approved."""
    case = _lock(case)
    action = _authorize("draft_reply", user=user, case=case)
    text = _required(text, _("请填写答复意见。"))
    unfilled = unfilled_placeholders(text)
    if unfilled:
        raise WorkflowError(_("答复中还有未填写的模板内容：%(p)s。请替换为实际内容后再保存。") % {"p": "".join(unfilled)})
    draft = _post(case, user=user, kind=MessageKind.REPLY, text=text, visible=False)
    return _commit(case, action, user=user, from_status=case.status, payload={"draft": str(draft.pk)})


# A reply template's blanks: short runs in full-width brackets, "（核实情况）".
_PLACEHOLDER = re.compile(r"（[^（）\n]{1,20}）")


def unfilled_placeholders(text: str) -> list[str]:
    """The blanks of the active reply templates still in `text` word for word (a reply
    sent with "（核实情况）" in it tells the citizen nothing)."""
    blanks = {m for body in ReplyTemplate.objects.filter(is_active=True).values_list("body", flat=True)
              for m in _PLACEHOLDER.findall(body)}
    return sorted(b for b in blanks if b in text)


@transaction.atomic
def case_submit_for_review(*, case: Case, user: User) -> Case:
    case = _lock(case)
    action = _authorize("submit_review", user=user, case=case)
    if current_draft(case) is None:
        raise WorkflowError(_("请先拟写答复。"))
    return _commit(case, action, user=user, from_status=case.status)


def current_draft(case: Case) -> Message | None:
    """The latest reply drafted for the reporter and not yet released, if any."""
    return (Message.objects.filter(report=case.report, kind=MessageKind.REPLY, visible_to_reporter=False,
                                   direction=MessageDirection.TO_REPORTER).order_by("-created_at").first())


@transaction.atomic
def case_approve(*, case: Case, user: User) -> Case:
    """The head approves: the reply is released to the citizen and the case closes."""
    case = _lock(case)
    action = _authorize("approve", user=user, case=case)
    draft = current_draft(case)
    if draft is None:
        raise WorkflowError(_("没有待审核的答复。"))
    at, from_status = timezone.now(), case.status
    Message.objects.filter(pk=draft.pk).update(visible_to_reporter=True)
    for kind in (DeadlineKind.HANDLE, DeadlineKind.REVIEW, DeadlineKind.ACCEPTANCE_NOTICE):
        deadlines.deadline_meet(case=case, kind=kind, at=at)
    _mark_first_reply(case, at)
    _mark_closed(case, at)
    return _commit(case, action, user=user, from_status=from_status, payload={"reply": str(draft.pk)})


@transaction.atomic
def case_send_back(*, case: Case, user: User, reason: str) -> Case:
    case = _lock(case)
    action = _authorize("send_back", user=user, case=case)
    reason = _required(reason, _("退回修改须说明原因。"))
    note = _note(case, user=user, text=reason)
    return _commit(case, action, user=user, from_status=case.status, payload={"note": note})


# --- transfer -------------------------------------------------------------------------------


@transaction.atomic
def case_transfer(*, case: Case, user: User, to: Department, reason: str) -> Case:
    """转办: offer the case to another department; it stays here until they accept."""
    case = _lock(case)
    action = _authorize("transfer", user=user, case=case)
    reason = _required(reason, _("转办须说明原因。"))
    if to.pk == case.department_id:
        raise WorkflowError(_("不能转办给本部门。"))
    if not to.is_active:
        raise WorkflowError(_("该部门已停用。"))
    note = _note(case, user=user, text=reason)
    case.transfer_to = to
    return _commit(case, action, user=user, from_status=case.status,
                   payload={"from_department": case.department_id, "to_department": to.pk, "note": note})


@transaction.atomic
def case_transfer_accept(*, case: Case, user: User) -> Case:
    """The receiving department takes the case: it starts again at 已交办 there."""
    case = _lock(case)
    action = _authorize("transfer_accept", user=user, case=case)
    at, from_status, old = timezone.now(), case.status, case.department_id
    for kind in (DeadlineKind.ACCEPTANCE_NOTICE, DeadlineKind.HANDLE):
        deadlines.deadline_cancel(case=case, kind=kind, at=at)
    case.department, case.transfer_to = case.transfer_to, None
    deadlines.deadline_start(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE, at=at)
    return _commit(case, action, user=user, from_status=from_status,
                   payload={"from_department": old, "to_department": case.department_id})


def case_transfer_return(*, case: Case, user: User, reason: str) -> Case:
    """The department offered the case refuses it; it stays where it was."""
    return _offer_ended(case, user, "transfer_return", reason, _("退回转办须说明原因。"), party="refused_by")


def case_transfer_withdraw(*, case: Case, user: User, reason: str) -> Case:
    """The sender takes back an offer not yet accepted."""
    return _offer_ended(case, user, "transfer_withdraw", reason, _("撤回转办须说明原因。"), party="withdrawn_from")


@transaction.atomic
def _offer_ended(case: Case, user: User, name: str, reason: str, missing: Promise, *, party: str) -> Case:
    """A pending transfer ends without moving the case; the event names the department
    the offer was made to (under `party`) and the note giving the reason."""
    case = _lock(case)
    action = _authorize(name, user=user, case=case)
    reason = _required(reason, missing)
    note = _note(case, user=user, text=reason)
    offered_to = case.transfer_to_id
    case.transfer_to = None
    return _commit(case, action, user=user, from_status=case.status, payload={party: offered_to, "note": note})


# --- extension ------------------------------------------------------------------------------


@transaction.atomic
def case_extension_request(*, case: Case, user: User, amount: int, reason: str) -> Case:
    """延期 asked by the handler: at most the policy's number and length of extensions."""
    case = _lock(case)
    action = _authorize("extension_request", user=user, case=case)
    reason = _required(reason, _("申请延期须说明原因。"))
    clock = _require_clock(case)
    _left, most = deadlines.extension_limits(clock)
    if amount < 1 or amount > most:
        raise WorkflowError(_("延期时限须在 1 至 %(n)d %(u)s之间。") % {"n": most, "u": clock.get_unit_display()})
    note = _note(case, user=user, text=reason)
    clock.requested_extension = amount
    clock.save(update_fields=["requested_extension"])
    return _commit(case, action, user=user, from_status=case.status,
                   payload={"deadline": clock.kind, "amount": amount, "unit": clock.unit, "note": note})


@transaction.atomic
def case_extension_approve(*, case: Case, user: User, reason: str) -> Case:
    """The head approves the handler's request and tells the reporter the new due date and
    why (信访工作条例: 延长办理期限…并告知信访人延期理由), in a notice on their status page."""
    case = _lock(case)
    action = _authorize("extension_approve", user=user, case=case)
    reason = _required(reason, _("批准延期须写明告知反映人的延期理由。"))
    clock = _require_clock(case)
    amount = clock.requested_extension or 0
    left, most = deadlines.extension_limits(clock)
    if left < 1 or amount > most:  # the policy may have been tightened since the request
        raise WorkflowError(_("延期超出规定限度。"))
    deadlines.deadline_extend(deadline=clock, amount=amount)
    due = timezone.localtime(clock.due_at)
    # Stored content, in the reporter's language like the rest of their thread.
    text = f"您反映的事项经批准延期办理，办理期限延长至{due.year}年{due.month}月{due.day}日。延期理由：{reason}"
    notice = _post(case, user=user, kind=MessageKind.NOTICE, text=text, visible=True)
    return _commit(case, action, user=user, from_status=case.status,
                   payload={"deadline": clock.kind, "amount": amount, "due_at": clock.due_at.isoformat(),
                            "notice": str(notice.pk)})


@transaction.atomic
def case_extension_reject(*, case: Case, user: User, reason: str) -> Case:
    case = _lock(case)
    action = _authorize("extension_reject", user=user, case=case)
    reason = _required(reason, _("不批准延期须说明原因。"))
    note = _note(case, user=user, text=reason)
    clock = _require_clock(case)
    clock.requested_extension = None
    clock.save(update_fields=["requested_extension"])
    return _commit(case, action, user=user, from_status=case.status, payload={"note": note})


# --- suspension (the citizen's turn) --------------------------------------------------------


def _suspend(case: Case, *, reason_code: str) -> None:
    at = timezone.now()
    deadlines.deadlines_pause(case=case, at=at)
    case.suspended_at, case.suspend_reason = at, reason_code


@transaction.atomic
def case_suspend(*, case: Case, user: User, reason: str) -> Case:
    """挂起: waiting for the citizen (materials, an appointment); every clock stops."""
    case = _lock(case)
    action = _authorize("suspend", user=user, case=case)
    reason = _required(reason, _("挂起须说明原因。"))
    note = _note(case, user=user, text=reason)
    _suspend(case, reason_code="suspended")
    return _commit(case, action, user=user, from_status=case.status, payload={"note": note})


@transaction.atomic
def case_ask_question(*, case: Case, user: User, text: str) -> Case:
    """Ask the citizen a question: it shows on their receipt page; clocks stop until the answer."""
    case = _lock(case)
    action = _authorize("ask_question", user=user, case=case)
    text = _required(text, _("请填写要询问的问题。"))
    question = _post(case, user=user, kind=MessageKind.QUESTION, text=text, visible=True)
    _suspend(case, reason_code="question")
    _mark_first_reply(case, timezone.now())
    return _commit(case, action, user=user, from_status=case.status, payload={"question": str(question.pk)})


def _resume(case: Case) -> dict[str, Any]:
    at = timezone.now()
    paused_for = int((at - case.suspended_at).total_seconds()) if case.suspended_at else 0
    deadlines.deadlines_resume(case=case, at=at)
    case.suspended_at, case.suspend_reason = None, ""
    return {"paused_seconds": paused_for}


@transaction.atomic
def case_resume(*, case: Case, user: User) -> Case:
    case = _lock(case)
    action = _authorize("resume", user=user, case=case)
    return _commit(case, action, user=user, from_status=case.status, payload=_resume(case))


@transaction.atomic
def case_citizen_answered(*, case: Case, message_id: str) -> Case | None:
    """The reporter answered: a case waiting for that answer resumes. Other messages only log."""
    case = _lock(case)
    if case.status not in ACTIONS["citizen_answer"].sources or case.suspend_reason != "question":
        return None
    payload = {"message": message_id, **_resume(case)}
    return _commit(case, ACTIONS["citizen_answer"], user=None, from_status=case.status, payload=payload,
                   actor_kind="citizen")


# --- leadership, citizen, archive -----------------------------------------------------------


@transaction.atomic
def case_supervise(*, case: Case, user: User) -> Case:
    """督办: leadership flags the case; every list shows the flag."""
    case = _lock(case)
    action = _authorize("supervise", user=user, case=case)
    case.supervised, case.supervised_at = True, timezone.now()
    return _commit(case, action, user=user, from_status=case.status)


def cases_escalated(*, steps: dict[int, list[dict[str, Any]]], supervise: set[int], at: datetime) -> list[Case]:
    """The system's escalation of overdue cases, for many cases at once (the caller holds a
    transaction): an `escalate` event per step (payload: ids and codes), and 督办 for the
    cases in `supervise` that are not supervised yet. Locks the cases in id order."""
    ids = sorted(set(steps) | supervise)
    # Only what the steps read and write: the ladder locks tens of thousands of cases at once.
    cases = list(Case.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
                 .only("status", "supervised", "supervised_at", "audit_seq", "audit_head"))
    entries: list[tuple[Case, str, str, str, dict[str, Any]]] = []
    for case in cases:
        if case.status not in ACTIONS["escalate"].sources:
            continue
        entries.extend((case, "escalate", case.status, case.status, payload) for payload in steps.get(case.pk, []))
        if case.pk in supervise and _refusal(ACTIONS["supervise"], user=None, case=case) is None:
            case.supervised, case.supervised_at = True, at
            entries.append((case, "supervise", case.status, case.status, {"auto": "overdue"}))
    events_append_locked(entries, at=at)
    _save_heads_and_flags(cases)
    return cases


def _save_heads_and_flags(cases: list[Case]) -> None:
    """One UPDATE for many cases on PostgreSQL (bulk_update's CASE per row is slow at
    thousands of rows); bulk_update elsewhere."""
    if connection.vendor != "postgresql":
        Case.objects.bulk_update(cases, ["audit_seq", "audit_head", "supervised", "supervised_at"], batch_size=500)
        return
    # The rows as one JSON parameter: five arrays of tens of thousands of values cost more to
    # adapt in Python than the update.
    rows = [{"id": c.pk, "seq": c.audit_seq, "head": c.audit_head, "sup": c.supervised,
             "sat": c.supervised_at.isoformat() if c.supervised_at else None} for c in cases]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE triage_case c SET audit_seq = v.seq, audit_head = v.head, supervised = v.sup, supervised_at = v.sat "
            "FROM json_to_recordset(%s::json) AS v(id bigint, seq integer, head text, sup boolean, sat timestamptz) "
            "WHERE c.id = v.id",
            [json.dumps(rows)],
        )


@transaction.atomic
def case_unsupervise(*, case: Case, user: User) -> Case:
    case = _lock(case)
    action = _authorize("unsupervise", user=user, case=case)
    case.supervised = False
    return _commit(case, action, user=user, from_status=case.status)


@transaction.atomic
def case_rate(*, case: Case, rating: str) -> Case:
    """The citizen rated the outcome (intake stores the rating; the event records that it happened)."""
    case = _lock(case)
    action = _authorize("rate", user=None, case=case)
    return _commit(case, action, user=None, from_status=case.status, payload={"rating": rating},
                   actor_kind="citizen")


@transaction.atomic
def case_review_request(*, case: Case, request_id: str) -> Case:
    """复查/复核: the citizen's request reopens the case under the review deadline."""
    case = _lock(case)
    action = _authorize("review_request", user=None, case=case)
    at, from_status = timezone.now(), case.status
    case.review_round += 1
    for kind in (DeadlineKind.HANDLE, DeadlineKind.REVIEW):
        deadlines.deadline_cancel(case=case, kind=kind, at=at)
    deadlines.deadline_start(case=case, kind=DeadlineKind.REVIEW, at=at)
    to_status = S.ASSIGNED if from_status == S.NOT_ACCEPTED else S.IN_PROGRESS
    return _commit(case, action, user=None, from_status=from_status, to_status=to_status, actor_kind="citizen",
                   payload={"request": request_id, "round": case.review_round})


@transaction.atomic
def case_archive(*, case: Case, user: User) -> Case:
    case = _lock(case)
    action = _authorize("archive", user=user, case=case)
    return _commit(case, action, user=user, from_status=case.status)


# --- internal notes (not a transition: the status and clocks stay as they are) -------------


def can_note(*, user: User, case: Case) -> bool:
    """Handlers and heads who reach the case (or a transfer offered to them) may add notes."""
    if case.status == S.ARCHIVED:
        return False
    roles = roles_of(user) & HANDLERS
    return any(covers(user, role, department) for role in roles
               for department in (case.department, case.transfer_to) if department is not None)


@transaction.atomic
def case_note_add(*, case: Case, user: User, text: str) -> Case:
    """An encrypted internal note on the case; the event records only the note's id."""
    case = _lock(case)
    if not can_note(user=user, case=case):
        raise WorkflowError(_("您无权为该案件添加内部备注。"))
    text = _required(text, _("请填写备注内容。"))
    note = _note(case, user=user, text=text)
    event_append(case=case, kind="note", from_status=case.status, to_status=case.status, actor=user,
                 payload={"note": note})
    return case


EVENT_LABELS: dict[str, str | Promise] = {**{name: a.label for name, a in ACTIONS.items()}, "note": _("内部备注")}


def is_closed(case: Case) -> bool:
    return case.status in CLOSED_STATES
