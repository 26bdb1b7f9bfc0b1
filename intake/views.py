"""Citizen pages: submit a report, get a receipt, follow the case. No account, no
JavaScript needed, no receipt in any URL, nothing about the client stored."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from intake import abuse, handoff
from intake.forms import (
    CitizenReportForm,
    FeedbackForm,
    ReceiptLookupForm,
    ReporterMessageForm,
    ReviewRequestForm,
    uploads_from,
)
from intake.models import Attachment, Channel, MessageDirection, MessageKind, Report, Source
from intake.selectors import attachment_open, report_by_receipt, report_thread
from intake.services import (
    IdentityInput,
    ReportInput,
    SubmissionError,
    feedback_give,
    report_submit,
    reporter_message_post,
    review_request,
)
from intake.validators import format_receipt

# Citizen POSTs are CSRF-exempt on purpose: citizens have no session or login to ride
# on, their pages send no Referer (so Django's origin check cannot work), and each POST
# must carry a signed token instead: a single-use form token, or the short-lived
# status access token that only a receipt holder gets.
_ACCESS_SALT = "qingfeng.status-access"
ACCESS_MAX_AGE = 30 * 60
# Marked for translation here, translated when shown.
TOKEN_MESSAGES = {
    "expired": gettext_noop("页面已过期，请重新提交。"),
    "invalid": gettext_noop("页面已失效，请刷新后重新提交。"),
    "too_fast": gettext_noop("提交过快，请稍候再试。"),
    "reused": gettext_noop("此表单已经提交过。如需再次反映，请重新打开页面填写。"),
}


def _token_error(code: str) -> str:
    return _(TOKEN_MESSAGES.get(code, TOKEN_MESSAGES["invalid"]))


def _apply_errors(form: Any, errors: dict[str, list[str]]) -> None:
    for field, messages in errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "intake/home.html")


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    if request.method in ("GET", "HEAD"):
        form = CitizenReportForm(initial={"form_token": abuse.issue_form_token("submit")})
        return render(request, "intake/submit.html", {"form": form})
    form = CitizenReportForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        token_error = abuse.check_form_token(form.cleaned_data["form_token"], "submit")
        if token_error:
            form.add_error(None, _token_error(token_error))
        elif not abuse.allow_submission():
            form.add_error(None, _("当前提交人数较多，请几分钟后再试。您填写的内容未被保存。"))
            status = 429
        else:
            data = form.cleaned_data
            identity = None
            if any(data.get(k) for k in ("name", "mobile", "id_number", "sms_opt_in")):
                identity = IdentityInput(
                    name=data["name"], mobile=data["mobile"], id_number=data["id_number"], sms_opt_in=data["sms_opt_in"]
                )
            try:
                result = report_submit(
                    data=ReportInput(
                        channel=Channel.WEB,
                        source=Source.WEB_FORM,
                        matter_type=data["matter_type"],
                        area_code=data["area"],
                        place_detail=data["place_detail"],
                        title=data["title"],
                        body=data["body"],
                        occurred=data["occurred"],
                        accused=data["accused"],
                        identity=identity,
                        attachments=uploads_from(data["attachments"]),
                    )
                )
            except SubmissionError as exc:
                _apply_errors(form, exc.errors)
            else:
                assert result.receipt is not None
                return render(
                    request,
                    "intake/receipt.html",
                    {
                        "receipt": format_receipt(result.receipt),
                        "case_number": _case_number(result.report),
                        "received_at": result.report.received_at,
                        "named": result.report.is_named,
                        "attachments": bool(data["attachments"]),
                    },
                    status=201,
                )
    # Every failed POST gets a fresh token so the citizen can correct and resend.
    data = request.POST.copy()
    data["form_token"] = abuse.issue_form_token("submit")
    form.data = data
    return render(request, "intake/submit.html", {"form": form}, status=status)


def _case_number(report: Report) -> str:
    summary = handoff.case_summary(report.pk)
    return summary.number if summary else ""


def _access_token(report: Report) -> str:
    return signing.dumps(str(report.pk), salt=_ACCESS_SALT)


def _report_from_access(token: str) -> Report | None:
    try:
        report_id = signing.loads(token or "", salt=_ACCESS_SALT, max_age=ACCESS_MAX_AGE)
        return Report.objects.get(pk=uuid.UUID(report_id))
    except (signing.BadSignature, ValueError, Report.DoesNotExist):
        return None


def _lookup_form(*, receipt: str = "") -> ReceiptLookupForm:
    return ReceiptLookupForm(initial={"form_token": abuse.issue_form_token("lookup"), "receipt": receipt})


def _open_question(thread: list[Any]) -> Any:
    """The handler's newest question if the reporter has not written since, else None."""
    for message in reversed(thread):
        if message.direction != MessageDirection.TO_REPORTER:
            return None
        if message.kind == MessageKind.QUESTION:
            return message
    return None


# Where each form of the status page sits: a failed POST's answer starts at the top of a long
# page, so its alert links down to the form that needs the citizen (no JavaScript needed).
FORM_ANCHORS = {"message_form": "message", "feedback_form": "feedback", "review_form": "review"}


def _status_page(request: HttpRequest, report: Report, *, status: int = 200, forms: dict[str, Any] | None = None,
                 notice: str = "") -> HttpResponse:
    summary = handoff.case_summary(report.pk)
    review_requested = report.review_requests.order_by("-created_at").values_list("created_at", flat=True).first()
    access = _access_token(report)
    thread = report_thread(report, for_reporter=True)
    context: dict[str, Any] = {
        "report": report,
        "summary": summary,
        "thread": thread,
        "open_question": _open_question(thread),
        "review_requested": review_requested,
        "access": access,
        "notice": notice,
        "message_form": ReporterMessageForm(initial={"access": access}),
        "feedback_form": FeedbackForm(initial={"access": access}),
        "review_form": ReviewRequestForm(initial={"access": access}),
        "feedback": getattr(report, "feedback", None) if hasattr(report, "feedback") else None,
        "TO_REPORTER": MessageDirection.TO_REPORTER,
    }
    # Which forms the page offers (the template reads the same flags). A form it no longer
    # offers (rating a case that is not closed, writing on an archived one) has its errors
    # shown at the top instead.
    shown = context["shown"] = {
        "message_form": summary is None or summary.accepts_messages,
        "feedback_form": summary is not None and summary.can_rate and context["feedback"] is None,
        "review_form": summary is not None and summary.can_request_review,
    }
    context["hidden_errors"] = []
    context["failed_form"] = ""
    for name, form in (forms or {}).items():
        form.data = form.data.copy()
        form.data["access"] = access
        context[name] = form
        if not shown[name]:
            context["hidden_errors"] += [str(m) for messages in form.errors.values() for m in messages]
        elif form.errors:
            context["failed_form"] = FORM_ANCHORS[name]
    return render(request, "intake/status.html", context, status=status)


def _post_only(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """A status form's target: a POST does its work; a GET (a bookmark, a typed address, a
    reload after the page expired) is sent to the look-up page instead of a blank 405."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            return redirect("status")
        return view(request)

    return require_http_methods(["GET", "HEAD", "POST"])(wrapper)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def status_lookup(request: HttpRequest) -> HttpResponse:
    if request.method in ("GET", "HEAD"):
        return render(request, "intake/lookup.html", {"form": _lookup_form()})
    form = ReceiptLookupForm(request.POST)
    error = ""
    status = 400
    if form.is_valid():
        token_error = abuse.check_form_token(form.cleaned_data["form_token"], "lookup")
        if token_error:
            error = _token_error(token_error)
        elif not abuse.allow_receipt_lookup():
            error = _("查询过于频繁，请稍后再试。")
            status = 429
        else:
            report = report_by_receipt(form.cleaned_data["receipt"])
            if report is not None:
                return _status_page(request, report)
            abuse.record_failed_lookup()
            # One answer for malformed, wrong and unknown codes.
            error = _("未找到与该查询码对应的记录，请核对后重试。")
            status = 404
    else:
        error = _("请输入16位查询码。")
    # The code typed stays in the field (a typo is fixed, a refused-too-soon lookup is sent
    # again with one click); the page is never cached (Cache-Control: no-store).
    return render(request, "intake/lookup.html",
                  {"form": _lookup_form(receipt=request.POST.get("receipt", "")[:40]), "error": error}, status=status)


def _expired(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "intake/lookup.html",
        {"form": _lookup_form(), "error": _("为保护您的信息，查询页面30分钟后失效，请重新输入查询码。")},
        status=403,
    )


@csrf_exempt
@_post_only
def status_message(request: HttpRequest) -> HttpResponse:
    report = _report_from_access(request.POST.get("access", ""))
    if report is None:
        return _expired(request)
    form = ReporterMessageForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            reporter_message_post(
                report=report, text=form.cleaned_data["body"], uploads=uploads_from(form.cleaned_data["attachments"])
            )
        except SubmissionError as exc:
            _apply_errors(form, exc.errors)
        else:
            return _status_page(request, report, notice=_("留言已发送。"))
    return _status_page(request, report, status=400, forms={"message_form": form})


@csrf_exempt
@_post_only
def status_feedback(request: HttpRequest) -> HttpResponse:
    report = _report_from_access(request.POST.get("access", ""))
    if report is None:
        return _expired(request)
    form = FeedbackForm(request.POST)
    if form.is_valid():
        try:
            feedback_give(report=report, rating=form.cleaned_data["rating"], comment=form.cleaned_data["comment"])
        except SubmissionError as exc:
            _apply_errors(form, exc.errors)
        else:
            report.refresh_from_db()
            return _status_page(request, report, notice=_("感谢您的评价。"))
    return _status_page(request, report, status=400, forms={"feedback_form": form})


@csrf_exempt
@_post_only
def status_review(request: HttpRequest) -> HttpResponse:
    report = _report_from_access(request.POST.get("access", ""))
    if report is None:
        return _expired(request)
    form = ReviewRequestForm(request.POST)
    if form.is_valid():
        try:
            review_request(report=report, reason=form.cleaned_data["reason"])
        except SubmissionError as exc:
            _apply_errors(form, exc.errors)
        else:
            return _status_page(request, report, notice=_("复查申请已提交。"))
    return _status_page(request, report, status=400, forms={"review_form": form})


@csrf_exempt
@_post_only
def status_attachment(request: HttpRequest) -> HttpResponse:
    """A file in the reporter's own thread, by POST so nothing identifying is in a URL."""
    report = _report_from_access(request.POST.get("access", ""))
    if report is None:
        return _expired(request)
    try:
        attachment = Attachment.objects.select_related("report").get(
            pk=uuid.UUID(request.POST.get("attachment", "")), report=report, message__isnull=False,
            message__visible_to_reporter=True,
        )
    except (ValueError, Attachment.DoesNotExist):
        raise Http404 from None
    name, data = attachment_open(attachment)
    response = HttpResponse(data, content_type=attachment.mime)
    response["Content-Disposition"] = signing_safe_disposition(name)
    return response


def signing_safe_disposition(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename*=UTF-8''{quote(name)}"
