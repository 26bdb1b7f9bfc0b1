"""What a notification says, rendered from its references when it is sent or shown.

Only case number, type, department, deadline and a link: never report content, identity
or a receipt code (the rows hold none, and nothing here reads intake's encrypted fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.models import Kind, Notification
from triage.models import Case, DeadlineKind, Department


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def case_path(case_id: int) -> str:
    """The case's page on this site (the in-app centre links it)."""
    return settings.NOTIFY_CASE_PATH.format(case_id=case_id)


def case_url(case_id: int) -> str:
    return settings.SITE_URL.rstrip("/") + case_path(case_id)


def _case_type(case: Case) -> str:
    parts = [str(case.category) if case.category_id and case.category else "", case.get_matter_type_display()]
    return " / ".join(p for p in parts if p) or _("未分类")


def _headline(n: Notification) -> str:
    deadline = str(DeadlineKind(n.deadline_kind).label) if n.deadline_kind in DeadlineKind.values else ""
    if n.kind == Kind.DUE_SOON:
        return _("案件%(d)s期限临近，请抓紧办理。") % {"d": deadline}
    if n.kind == Kind.OVERDUE:
        return _("案件%(d)s期限已超期。") % {"d": deadline}
    if n.kind == Kind.ESCALATED:
        if n.level >= 2:
            return _("案件%(d)s超期未办结，已升级督促并列入督办。") % {"d": deadline}
        return _("本部门案件%(d)s已超期，请督促办理。") % {"d": deadline}
    event = (n.data or {}).get("event", "")
    by_event: dict[str, str] = {
        "submit_review": _("有答复待您审核。"),
        "extension_request": _("有延期申请待您审批。"),
        "send_back": _("您提交审核的答复被退回修改。"),
        "extension_approve": _("您的延期申请已获批准。"),
        "extension_reject": _("您的延期申请未获批准。"),
        "transfer_return": _("您转办的案件被对方退回，请继续办理或另行转办。"),
    }
    if n.kind in (Kind.APPROVAL_WAITING, Kind.DECIDED) and event in by_event:
        return by_event[event]
    headlines: dict[str, str] = {
        Kind.CASE_ASSIGNED: _("有新案件交办本部门。"),
        Kind.TRANSFER_OFFERED: _("有案件转办本部门，待接收。"),
        Kind.CITIZEN_ANSWERED: _("反映人已答复您的询问。"),
        Kind.APPROVAL_WAITING: _("有事项待您审批。"),
        Kind.SUPERVISED: _("您承办的案件已列入督办。"),
    }
    return headlines.get(n.kind, str(Kind(n.kind).label) if n.kind in Kind.values else n.kind)


def _digest(n: Notification) -> Rendered:
    data: dict[str, Any] = n.data or {}
    rows: dict[str, list[int]] = data.get("rows", {})
    names = dict(Department.objects.filter(pk__in=[int(k) for k in rows]).values_list("pk", "name"))
    title = _("每日汇总") if n.kind == Kind.DIGEST_DAILY else _("每周汇总")
    lines = [
        _("%(t)s（%(a)s 至 %(b)s）") % {"t": title, "a": data.get("from", ""), "b": data.get("to", "")},
        _("部门：新增 / 办结 / 临期 / 超期 / 不满意"),
    ]
    for dept_id, counts in sorted(rows.items(), key=lambda item: names.get(int(item[0]), "")):
        lines.append(f"{names.get(int(dept_id), dept_id)}：" + " / ".join(str(c) for c in counts))
    if not rows:
        lines.append(_("本期无数据。"))
    return Rendered(subject=_("【清风】%(t)s") % {"t": title}, body="\n".join(lines))


def render(n: Notification, *, link: bool = True) -> Rendered:
    """Subject and plain-text body of a staff notice (e-mail, in-app). Without `link` the body
    leaves out the case's address (the in-app centre links the case itself)."""
    if n.kind in (Kind.DIGEST_DAILY, Kind.DIGEST_WEEKLY):
        return _digest(n)
    if n.kind == Kind.CITIZEN_NEWS:
        return Rendered(subject="", body=citizen_sms_text())
    case = n.case
    lines = [_headline(n)]
    subject = _("【清风】%(h)s") % {"h": _headline(n)}
    if case is not None:
        subject = _("【清风】案件 %(n)s：%(k)s") % {"n": case.number, "k": Kind(n.kind).label}
        lines.append(_("案件编号：%(n)s") % {"n": case.number})
        lines.append(_("事项类型：%(t)s") % {"t": _case_type(case)})
        department = n.department or case.department
        if department is not None:
            lines.append(_("承办部门：%(d)s") % {"d": department.name})
        if n.due_at is not None:
            label = str(DeadlineKind(n.deadline_kind).label) if n.deadline_kind in DeadlineKind.values else ""
            lines.append(_("期限：%(k)s %(t)s") % {"k": label, "t": timezone.localtime(n.due_at).strftime("%Y-%m-%d %H:%M")})
        if link:
            lines.append(_("查看：%(u)s") % {"u": case_url(case.pk)})
    return Rendered(subject=subject, body="\n".join(lines))


def citizen_sms_text() -> str:
    """The SMS to a reporter: that there is news and where to look; no case details at all
    (a phone can be read by others), not even the case number, never the receipt."""
    url = settings.SITE_URL.rstrip("/") + settings.NOTIFY_CITIZEN_PATH
    return _("【清风】您反映的事项有新的办理进展，请凭查询码登录 %(u)s 查看。") % {"u": url}


def webhook_payload(n: Notification) -> dict[str, Any]:
    """The JSON body of a webhook delivery. `id` stays the same across retries, so a
    receiver can drop a delivery it has already processed."""
    case = n.case
    payload: dict[str, Any] = {
        "id": f"qf-notification-{n.pk}",
        "kind": n.kind,
        "level": n.level,
        "created_at": n.created_at.isoformat(),
        "case": None,
    }
    if case is not None:
        department = n.department or case.department
        payload["case"] = {
            "number": case.number,
            "category": case.category.name if case.category_id and case.category else None,
            "matter_type": case.matter_type or None,
            "department": department.code if department else None,
            "department_name": department.name if department else None,
            "deadline_kind": n.deadline_kind or None,
            "due_at": n.due_at.isoformat() if n.due_at else None,
            "urgent": n.urgent,
            "url": case_url(case.pk),
        }
    return payload
