"""Tables as CSV or Excel downloads (the dashboard's tables, the auditor's logs)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse

from intake.validators import CONTROL_CHARACTERS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # Control characters: a spreadsheet refuses the whole file for one (openpyxl raises),
    # and they mean nothing in a cell. Forms refuse them now; older rows may hold some.
    value = CONTROL_CHARACTERS.sub("", value)
    # A cell starting with = + - @ would be a formula in a spreadsheet (CSV injection).
    return f"'{value}" if value.startswith(("=", "+", "-", "@")) else value


def csv_bytes(headers: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode()  # BOM: Excel opens UTF-8 Chinese correctly


def xlsx_bytes(sheets: list[tuple[str, list[str], list[list[Any]]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, headers, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        sheet.append(headers)
        for row in rows:
            sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(sheets: list[tuple[str, list[str], list[list[Any]]]], *, fmt: str, stem: str) -> HttpResponse:
    """The first sheet as CSV, or every sheet as one workbook."""
    if fmt == "csv":
        _title, headers, rows = sheets[0]
        response = HttpResponse(csv_bytes(headers, rows), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(xlsx_bytes(sheets), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response
