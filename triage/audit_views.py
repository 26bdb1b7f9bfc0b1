"""The auditor's desk: the record of who viewed which report's content or identity, and the
verification of the case event hash chains. Records, case numbers and staff-typed reasons
only: nothing here decrypts a report."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods, require_safe

from intake.models import AccessKind, AccessRecord
from intake.validators import check_year
from triage.audit import AuditSummary, audit_run_request, audit_verify, config_verify
from triage.exports import download
from triage.models import AuditRun, Case

logger = logging.getLogger(__name__)

# The auditor role's permission (triage/demo.py ROLES); superusers hold every permission.
AUDIT_PERMISSION = "intake.view_accessrecord"
PAGE_SIZE = 50
RUNS_SHOWN = 5


def audit_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(AUDIT_PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _case_id(number: str) -> int | None:
    """The case id in a case number (QF + year + 8-digit sequence), or None."""
    number = number.strip().upper()
    case_id = Case.id_in_number(number)
    if case_id is None:
        return None
    case = Case.objects.filter(pk=case_id).only("pk", "created_at").first()
    return case.pk if case is not None and case.number == number else None


def _case_in(number: str) -> int | None:
    """A typed case number's case id; a number that names no case is said so, rather than
    an empty log (that reads as "nobody looked") or a check of nothing."""
    if not number:
        return None
    case_id = _case_id(number)
    if case_id is None:
        raise forms.ValidationError(_("找不到该案件。"))
    return case_id


class DaySpanForm(forms.Form):
    """自/至: local days, in the calendar's range and in order."""

    since = forms.DateField(label=_lazy("自"), required=False, validators=[check_year],
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_lazy("至"), required=False, validators=[check_year],
                            widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("结束日期不能早于开始日期。"))
        return data


def _in_span(queryset: Any, field: str, data: dict[str, Any]) -> Any:
    if data["since"]:
        queryset = queryset.filter(**{f"{field}__gte": _day_start(data["since"])})
    if data["until"]:
        queryset = queryset.filter(**{f"{field}__lt": _day_start(data["until"] + timedelta(days=1))})
    return queryset


class AccessFilterForm(DaySpanForm):
    username = forms.CharField(label=_lazy("查阅人"), required=False, max_length=150)
    kind = forms.ChoiceField(label=_lazy("类型"), required=False, choices=[("", _lazy("全部")), *AccessKind.choices])
    case = forms.CharField(label=_lazy("案件编号"), required=False, max_length=20)

    field_order = ["username", "kind", "case", "since", "until"]

    def clean_case(self) -> int | None:
        return _case_in(self.cleaned_data["case"])


class VerifyForm(forms.Form):
    case = forms.CharField(label=_lazy("案件编号"), required=False, max_length=20,
                           help_text=_lazy("留空则校验全部案件的办理记录。"))

    def clean_case(self) -> int | None:
        return _case_in(self.cleaned_data["case"])


def _records(form: AccessFilterForm) -> Any:
    records = AccessRecord.objects.select_related("user").order_by("-at")
    if not form.is_bound:
        return records
    if not form.is_valid():
        return records.none()  # the form says what is wrong; an unfiltered log would read as the answer
    data = form.cleaned_data
    if data["username"]:
        records = records.filter(user__username__iexact=data["username"].strip())
    if data["kind"]:
        records = records.filter(kind=data["kind"])
    if data["case"]:
        records = records.filter(report_id__in=Case.objects.filter(pk=data["case"]).values_list("report_id", flat=True))
    return _in_span(records, "at", data)


def _day_start(day: date) -> datetime:
    """Midnight of a local day, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _with_cases(records: list[AccessRecord]) -> list[tuple[AccessRecord, list[Case]]]:
    """Each record with the cases of its report (a split report has several)."""
    cases: dict[Any, list[Case]] = {}
    for case in Case.objects.filter(report_id__in={r.report_id for r in records}).only(
            "pk", "created_at", "report_id").order_by("pk"):
        cases.setdefault(case.report_id, []).append(case)
    return [(r, cases.get(r.report_id, [])) for r in records]


def _render(request: HttpRequest, verify_form: VerifyForm, summary: AuditSummary | None, status: int = 200) -> HttpResponse:
    form = AccessFilterForm(request.GET or None)
    page = Paginator(_records(form), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "triage/audit/index.html", {
        "form": form, "page": page, "rows": _with_cases(list(page.object_list)),
        "verify_form": verify_form, "summary": summary,
        "runs": list(AuditRun.objects.select_related("requested_by")[:RUNS_SHOWN]),
    }, status=status)


@require_safe
@audit_required
def audit_page(request: HttpRequest) -> HttpResponse:
    return _render(request, VerifyForm(), None)


@require_http_methods(["POST"])
@audit_required
def audit_verify_page(request: HttpRequest) -> HttpResponse:
    """Verify the hash chains: of one case now; of all now while they are few
    (AUDIT_INLINE_MAX_CASES), else by the worker, whose run the page lists."""
    form = VerifyForm(request.POST)
    if not form.is_valid():
        return _render(request, form, None, status=400)
    case_id = form.cleaned_data["case"]
    if case_id is not None or Case.objects.count() <= settings.AUDIT_INLINE_MAX_CASES:
        return _render(request, form, audit_verify(case_ids=None if case_id is None else [case_id]))
    with transaction.atomic():
        run, created = audit_run_request(user=request.user)  # type: ignore[arg-type]
    if created:
        _queue_run(run)
    messages.info(request, _("案件较多，全面校验已交由后台执行，完成后结果显示在下方。"))
    return redirect(f"{reverse('audit')}#runs")


def _queue_run(run: AuditRun) -> None:
    from triage.tasks import verify_audit_chains

    try:
        verify_audit_chains.delay(run.pk)
    except Exception as exc:  # noqa: BLE001 - kombu raises several kinds when the broker is down
        logger.warning("Could not queue audit run %s: %s", run.pk, type(exc).__name__)
        AuditRun.objects.filter(pk=run.pk).update(failure=AuditRun.BROKER_DOWN)


# --- configuration changes ------------------------------------------------------------------
# Routing rules, term rules, categories, departments, holidays, deadline policies, templates,
# staff accounts and their roles are changed in the admin; Django keeps a record of each
# change (LogEntry). The auditor reads it here: who changed what, when, and which fields.

ACTION_LABELS = {ADDITION: _lazy("新增"), CHANGE: _lazy("修改"), DELETION: _lazy("删除")}


class ChangeFilterForm(DaySpanForm):
    username = forms.CharField(label=_lazy("操作人"), required=False, max_length=150)
    model = forms.TypedChoiceField(label=_lazy("对象类型"), required=False, coerce=int, empty_value=None)

    field_order = ["username", "model", "since", "until"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the kinds of object the log holds, named as the admin names them.
        used = ContentType.objects.filter(pk__in=LogEntry.objects.values("content_type_id").distinct())
        kinds = sorted(((ct.pk, _model_label(ct)) for ct in used), key=lambda c: c[1])
        field = self.fields["model"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", _("全部")), *kinds]


def _model_label(content_type: ContentType | None) -> str:
    model = content_type.model_class() if content_type is not None else None
    if model is None:  # a model since removed
        return content_type.model if content_type is not None else "—"
    return str(model._meta.verbose_name)


def _changes(form: ChangeFilterForm) -> Any:
    entries = LogEntry.objects.select_related("user", "content_type").order_by("-action_time", "-pk")
    if not form.is_bound:
        return entries
    if not form.is_valid():
        return entries.none()  # the form says what is wrong
    data = form.cleaned_data
    if data["username"]:
        entries = entries.filter(user__username__iexact=data["username"].strip())
    if data["model"]:
        entries = entries.filter(content_type_id=data["model"])
    return _in_span(entries, "action_time", data)


@require_safe
@audit_required
def audit_changes_page(request: HttpRequest) -> HttpResponse:
    form = ChangeFilterForm(request.GET or None)
    page = Paginator(_changes(form), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"entry": e, "action": ACTION_LABELS.get(e.action_flag, "—"), "model": _model_label(e.content_type),
             "message": e.get_change_message()} for e in page.object_list]
    checked, broken, problems = config_verify()
    return render(request, "triage/audit/changes.html", {
        "form": form, "page": page, "rows": rows,
        "chain": {"checked": checked, "broken": broken, "problems": problems},
    })


# --- exports ---------------------------------------------------------------------------------

EXPORT_FORMATS = {"csv", "xlsx"}
EXPORT_MAX_ROWS = 100_000  # a workbook beyond this is not read; the auditor narrows the filters
EXPORT_CHUNK = 2000


def _export_refused(form: forms.Form, total: int) -> HttpResponse | None:
    """A plain 400 naming what is wrong, or None when the export can go ahead."""
    if form.is_bound and not form.is_valid():
        reasons = [f"{form.fields[name].label}：{error}" if name in form.fields else str(error)
                   for name, errors in form.errors.items() for error in errors]
        return HttpResponse(_("筛选条件有误：%(reasons)s") % {"reasons": "；".join(reasons)}, status=400,
                            content_type="text/plain; charset=utf-8")
    if total > EXPORT_MAX_ROWS:
        return HttpResponse(_("共 %(n)d 条，超过一次导出的上限 %(max)d 条：请按日期或人员缩小范围后再导出。")
                            % {"n": total, "max": EXPORT_MAX_ROWS}, status=400, content_type="text/plain; charset=utf-8")
    return None


def _local(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S")


def _export(fmt: str, form: forms.Form, queryset: Any, *, rows: Callable[[list[Any]], list[list[Any]]],
            title: str, headers: list[str], stem: str) -> HttpResponse:
    """Every row the page's filters select (not one page of them), read in chunks."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    refused = _export_refused(form, queryset.count())
    if refused is not None:
        return refused
    out: list[list[Any]] = []
    items = queryset.iterator(chunk_size=EXPORT_CHUNK)
    while chunk := list(itertools.islice(items, EXPORT_CHUNK)):
        out += rows(chunk)
    return download([(title, headers, out)], fmt=fmt, stem=f"qingfeng-{stem}-{timezone.localdate():%Y%m%d}")


@require_safe
@audit_required
def audit_access_export(request: HttpRequest, fmt: str) -> HttpResponse:
    form = AccessFilterForm(request.GET or None)
    return _export(fmt, form, _records(form), rows=_access_rows, title=_("查阅记录"), stem="access",
                   headers=[_("时间"), _("查阅人"), _("类型"), _("案件编号"), _("理由")])


def _access_rows(records: list[AccessRecord]) -> list[list[Any]]:
    return [[_local(r.at), r.user.get_username(), r.get_kind_display(), "、".join(c.number for c in cases),
             r.reason] for r, cases in _with_cases(records)]


@require_safe
@audit_required
def audit_changes_export(request: HttpRequest, fmt: str) -> HttpResponse:
    form = ChangeFilterForm(request.GET or None)
    return _export(fmt, form, _changes(form), rows=_change_rows, title=_("配置变更记录"), stem="changes",
                   headers=[_("时间"), _("操作人"), _("操作"), _("对象类型"), _("对象"), _("变更内容")])


def _change_rows(entries: list[LogEntry]) -> list[list[Any]]:
    return [[_local(e.action_time), e.user.get_username(), str(ACTION_LABELS.get(e.action_flag, "—")),
             _model_label(e.content_type), e.object_repr, e.get_change_message()] for e in entries]
