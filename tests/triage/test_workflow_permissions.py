"""Role × action × own/other department: every allowed cell works, every forbidden cell is
refused by the service (and writes no event), and `actions_for` agrees with both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.triage.casework import Team, bring_to, new_case, staff
from triage import workflow
from triage.models import Case, CaseStatus, Category, Deadline, DeadlineKind, Department
from triage.services import triage_accept, triage_correct, triage_merge, triage_split
from triage.workflow import ACTIONS, WorkflowError

pytestmark = pytest.mark.django_db
S = CaseStatus
OWN, OTHER = "379901-zj", "379902-zj"
ROLES = ["handler", "department_head", "leadership", "auditor", "triage_officer"]
HOME = {"handler": OWN, "department_head": OWN, "leadership": "379900-gov", "auditor": "379900-jw",
        "triage_officer": "379901-xf"}


@dataclass
class World:
    teams: dict[str, Team]
    actors: dict[str, User]


@pytest.fixture
def world(demo_org: None) -> World:
    teams = {OWN: Team(OWN, "own"), OTHER: Team(OTHER, "oth")}
    actors = {"handler": staff("actor-handler", "handler", OWN), "department_head": staff("actor-head", "department_head", OWN)}
    for role in ("leadership", "auditor", "triage_officer"):
        actors[role] = staff(f"actor-{role}", role, HOME[role])
    return World(teams, actors)


def _case(world: World, dept: str, state: str) -> Case:
    if state == S.AWAITING_TRIAGE:
        return new_case(department=dept, route=False)
    return bring_to(new_case(department=dept), state, world.teams[dept])


def _with_transfer(world: World, dept: str) -> Case:
    """A case of a neighbouring department offered to `dept`."""
    source = "379901-jy" if dept == OWN else "379902-jy"
    case = new_case(department=source)
    Case.objects.filter(pk=case.pk).update(transfer_to=Department.objects.get(code=dept))
    return Case.objects.get(pk=case.pk)


def _with_transfer_out(world: World, dept: str) -> Case:
    """A case of `dept` offered to a neighbouring department, not yet accepted."""
    case = _case(world, dept, S.ASSIGNED)
    Case.objects.filter(pk=case.pk).update(transfer_to=Department.objects.get(code="379900-xf"))
    return Case.objects.get(pk=case.pk)


def _with_extension_request(world: World, dept: str) -> Case:
    case = _case(world, dept, S.IN_PROGRESS)
    Deadline.objects.filter(case=case, kind=DeadlineKind.HANDLE).update(requested_extension=10)
    return case


def _updated(state: str, **fields: object) -> Callable[[World, str], Case]:
    def prepare(world: World, dept: str) -> Case:
        case = _case(world, dept, state)
        Case.objects.filter(pk=case.pk).update(**fields)
        return Case.objects.get(pk=case.pk)
    return prepare


def _in(state: str) -> Callable[[World, str], Case]:
    return lambda world, dept: _case(world, dept, state)


REASON = "依据有关规定处理。"
# action: (prepare a case of the given department, perform it as the user)
CELLS: dict[str, tuple[Callable[[World, str], Case], Callable[[Case, User], object]]] = {
    "accept": (_in(S.ASSIGNED), lambda c, u: workflow.case_accept(case=c, user=u)),
    "decline": (_in(S.ASSIGNED), lambda c, u: workflow.case_decline(case=c, user=u, reason=REASON)),
    "return_to_triage": (_in(S.ASSIGNED), lambda c, u: workflow.case_return_to_triage(case=c, user=u, reason=REASON)),
    "start": (_in(S.ACCEPTED), lambda c, u: workflow.case_start(case=c, user=u)),
    "draft_reply": (_in(S.IN_PROGRESS), lambda c, u: workflow.case_draft_reply(case=c, user=u, text=REASON)),
    "submit_review": (_in(S.DRAFTED), lambda c, u: workflow.case_submit_for_review(case=c, user=u)),
    "approve": (_in(S.IN_REVIEW), lambda c, u: workflow.case_approve(case=c, user=u)),
    "send_back": (_in(S.IN_REVIEW), lambda c, u: workflow.case_send_back(case=c, user=u, reason=REASON)),
    "transfer": (_in(S.ASSIGNED), lambda c, u: workflow.case_transfer(
        case=c, user=u, to=Department.objects.get(code="379900-xf"), reason=REASON)),
    "transfer_accept": (_with_transfer, lambda c, u: workflow.case_transfer_accept(case=c, user=u)),
    "transfer_return": (_with_transfer, lambda c, u: workflow.case_transfer_return(case=c, user=u, reason=REASON)),
    "transfer_withdraw": (_with_transfer_out, lambda c, u: workflow.case_transfer_withdraw(
        case=c, user=u, reason=REASON)),
    "extension_request": (_in(S.IN_PROGRESS), lambda c, u: workflow.case_extension_request(
        case=c, user=u, amount=10, reason=REASON)),
    "extension_approve": (_with_extension_request, lambda c, u: workflow.case_extension_approve(
        case=c, user=u, reason=REASON)),
    "extension_reject": (_with_extension_request, lambda c, u: workflow.case_extension_reject(
        case=c, user=u, reason=REASON)),
    "suspend": (_in(S.ASSIGNED), lambda c, u: workflow.case_suspend(case=c, user=u, reason=REASON)),
    "ask_question": (_in(S.ASSIGNED), lambda c, u: workflow.case_ask_question(case=c, user=u, text="请补充地址。")),
    "resume": (_updated(S.ASSIGNED, suspended_at=timezone.now(), suspend_reason="suspended"),
               lambda c, u: workflow.case_resume(case=c, user=u)),
    "supervise": (_in(S.ASSIGNED), lambda c, u: workflow.case_supervise(case=c, user=u)),
    "unsupervise": (_updated(S.ASSIGNED, supervised=True), lambda c, u: workflow.case_unsupervise(case=c, user=u)),
    "archive": (_updated(S.CLOSED, closed_at=timezone.now() - timedelta(days=40)),
                lambda c, u: workflow.case_archive(case=c, user=u)),
    "triage_accept": (_in(S.AWAITING_TRIAGE), lambda c, u: triage_accept(case=c, user=u)),
    "triage_correct": (_in(S.AWAITING_TRIAGE), lambda c, u: triage_correct(
        case=c, user=u, category=None, department=c.department, reason=REASON)),  # type: ignore[arg-type]
    "triage_merge": (_in(S.AWAITING_TRIAGE), lambda c, u: triage_merge(
        case=c, into=new_case(department=c.department.code), user=u, reason=REASON)),  # type: ignore[union-attr]
    "triage_split": (_in(S.AWAITING_TRIAGE), lambda c, u: triage_split(
        case=c, user=u, reason=REASON, parts=[
            (Category.objects.order_by("pk")[0], c.department, ""),
            (Category.objects.order_by("pk")[1], c.department, ""),
        ])),
}

HANDLER_ACTIONS = {"accept", "decline", "return_to_triage", "start", "draft_reply", "submit_review", "transfer",
                   "transfer_accept", "transfer_return", "transfer_withdraw", "extension_request", "suspend",
                   "ask_question", "resume"}
HEAD_ONLY = {"approve", "send_back", "extension_approve", "extension_reject"}


def allowed(role: str, action: str, scope: str) -> bool:
    own = scope == "own"
    if action in HANDLER_ACTIONS:
        return role in ("handler", "department_head") and own
    if action in HEAD_ONLY:
        return role == "department_head" and own
    if action in ("supervise", "unsupervise"):
        return role == "leadership"
    if action == "archive":
        return role == "leadership" or (role == "department_head" and own)
    if action.startswith("triage_"):
        return role == "triage_officer" and own
    raise AssertionError(action)


def test_every_staff_action_is_in_the_matrix() -> None:
    assert {name for name, a in ACTIONS.items() if a.roles} == set(CELLS)


@pytest.mark.parametrize("scope", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(CELLS))
def test_matrix(world: World, action: str, role: str, scope: str) -> None:
    prepare, perform = CELLS[action]
    case = prepare(world, OWN if scope == "own" else OTHER)
    user = User.objects.get(pk=world.actors[role].pk)
    expected = allowed(role, action, scope)
    assert workflow.can(user=user, case=case, action=action) is expected
    assert (action in {a.name for a in workflow.actions_for(user=user, case=case)}) is expected
    events_before = Case.objects.get(pk=case.pk).audit_seq
    if expected:
        perform(case, user)
        assert Case.objects.get(pk=case.pk).audit_seq == events_before + 1
    else:
        with pytest.raises(WorkflowError):
            perform(case, user)
        assert Case.objects.get(pk=case.pk).audit_seq == events_before


def test_a_head_reaches_sub_departments(demo_org: None) -> None:
    district_head = staff("district-head", "department_head", "379901-gov")
    street = new_case(department="379901001-gov")
    assert workflow.can(user=district_head, case=street, action="accept")
    elsewhere = new_case(department="379902001-gov")
    assert not workflow.can(user=district_head, case=elsewhere, action="accept")
    district_handler = staff("district-handler", "handler", "379901-gov")
    assert not workflow.can(user=district_handler, case=street, action="accept")


def test_staff_without_a_department_may_do_nothing(demo_org: None) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("nodept", password="x-password-123")
    user.groups.add(Group.objects.get(name="handler"))
    case = new_case()
    assert workflow.actions_for(user=User.objects.get(pk=user.pk), case=case) == []
