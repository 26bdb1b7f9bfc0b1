"""Staff intake desk: clerks log letters and visits, operators log calls."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from intake import handoff
from intake.forms import CallForm, LetterForm, VisitForm, uploads_from
from intake.models import Channel, Source
from intake.services import IdentityInput, ReportInput, SubmissionError, report_submit
from intake.validators import format_receipt
from intake.views import _apply_errors

_FORMS: dict[str, tuple[type[Any], str]] = {
    Channel.LETTER: (LetterForm, "来信登记"),
    Channel.VISIT: (VisitForm, "来访登记"),
    Channel.CALL: (CallForm, "来电登记"),
}


@require_safe
@login_required
def staff_home(request: HttpRequest) -> HttpResponse:
    return render(request, "intake/staff/home.html")


def _identity(data: dict[str, Any]) -> IdentityInput | None:
    if any(data.get(k) for k in ("name", "mobile", "id_number")):
        return IdentityInput(name=data.get("name", ""), mobile=data.get("mobile", ""), id_number=data.get("id_number", ""))
    return None


def _input_for(channel: str, form: Any) -> ReportInput:
    data = form.cleaned_data
    common: dict[str, Any] = {
        "channel": channel,
        "source": Source.STAFF_FORM,
        "matter_type": data["matter_type"],
        "area_code": data["area"],
        "place_detail": data["place_detail"],
        "title": data["title"],
        "body": data["body"],
        "occurred": data["occurred"],
        "accused": data["accused"],
        "identity": _identity(data),
        "attachments": uploads_from(data["attachments"]),
    }
    if channel == Channel.LETTER:
        common["postmarked_on"] = data["postmarked_on"]
        if data.get("received_on"):
            received = timezone.make_aware(datetime.combine(data["received_on"], time(9, 0)))
            common["received_at"] = min(received, timezone.now())
    elif channel == Channel.VISIT:
        common["visitor_count"] = data["visitor_count"]
        common["representatives"] = form.representative_list()
    elif channel == Channel.CALL:
        common["caller_number"] = data["caller_number"]
        common["call_started_at"] = data["call_started_at"]
        common["call_duration_seconds"] = data["call_duration_seconds"]
    return ReportInput(**common)


def _log(request: HttpRequest, channel: str) -> HttpResponse:
    form_class, title = _FORMS[channel]
    if request.method in ("GET", "HEAD"):
        return render(request, "intake/staff/report_form.html", {"form": form_class(), "title": _(title), "channel": channel})
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = report_submit(data=_input_for(channel, form), logged_by=request.user)
        except SubmissionError as exc:
            _apply_errors(form, exc.errors)
        else:
            assert result.receipt is not None
            summary = handoff.case_summary(result.report.pk)
            return render(
                request,
                "intake/staff/slip.html",
                {
                    "receipt": format_receipt(result.receipt),
                    "case_number": summary.number if summary else "",
                    "report": result.report,
                    "channel": channel,
                    "title": _(title),
                    "again": f"log-{channel}",
                },
                status=201,
            )
    return render(
        request, "intake/staff/report_form.html", {"form": form, "title": _(title), "channel": channel}, status=400
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("intake.log_letter", raise_exception=True)
def log_letter(request: HttpRequest) -> HttpResponse:
    return _log(request, Channel.LETTER)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("intake.log_visit", raise_exception=True)
def log_visit(request: HttpRequest) -> HttpResponse:
    return _log(request, Channel.VISIT)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("intake.log_call", raise_exception=True)
def log_call(request: HttpRequest) -> HttpResponse:
    return _log(request, Channel.CALL)
