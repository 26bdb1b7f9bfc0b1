"""API-wide error handling: bad input is a 400 with field messages, never a 500."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import parsers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (the API's only one), with these refusals as a 400 instead of a
    500, garbled text or an English message:
    - a body nested deeper than Python's decoder recurses (DRF turns only ValueError into
      a parse error);
    - a body that is not UTF-8. JSON between systems is UTF-8 (RFC 8259 §8.1), so a
      declared charset is ignored: a `charset=latin-1` label on Chinese text would
      otherwise be decoded into mojibake and stored as the report;
    - a string holding a lone surrogate (`"\\ud800"`): valid JSON syntax, but no text, and
      it cannot be encoded again (an error message repeating it, a fingerprint of the body);
    - a body that is not an object (every endpoint takes one)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        context = {**(parser_context or {}), "encoding": "utf-8"}
        try:
            data = super().parse(stream, media_type, context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
        if not isinstance(data, dict):  # every endpoint takes an object; `null` would read "No data provided"
            raise ParseError(_("请求体应为一个 JSON 对象。"))
        if _holds_surrogate(data):
            raise ParseError(_("JSON 字符串中含有无效的字符（孤立的 UTF-16 代理项）。"))
        return data


def _holds_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            # isascii() reads a flag of the string (O(1)): base64 attachments are not scanned.
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: what Django refuses before a view runs (a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields or files) says why, as JSON for API
    clients; pages keep templates/400.html."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        detail = str(_("请求体过大：附件总大小（编码前）不能超过 %(n)d MB。") % {
            "n": settings.ATTACHMENT_MAX_TOTAL_BYTES // 2**20})
    else:
        detail = str(_("请求无法处理：格式不正确或字段过多。"))
    return JsonResponse({"detail": detail}, status=400)
