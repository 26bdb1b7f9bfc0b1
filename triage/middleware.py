"""Seal the admin's change record after every admin POST (triage/audit.py).

Most entries are sealed as they are written (a post_save receiver); Django writes the
entries of a bulk deletion with bulk_create, which sends no signal, so they are sealed here,
when the request that wrote them has finished."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from triage.audit import config_seal_pending

logger = logging.getLogger(__name__)


class ConfigChangeSealMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method == "POST":
            self.prefix = self.prefix or reverse("admin:index")
            if request.path.startswith(self.prefix):
                try:
                    config_seal_pending()
                except DatabaseError:  # sealed by the next write or verification instead
                    logger.warning("Could not seal the admin change record after a request.")
        return response
