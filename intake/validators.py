"""Validators for what citizens and clerks type: mobile numbers, ID cards, receipts."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# ASCII digits only: `\d` alone would also take Arabic-Indic, Devanagari … digits.
_MOBILE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
_ID_CARD = re.compile(r"^\d{17}[\dX]$", re.ASCII)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PHONE = re.compile(r"^\+?[\d\-]{3,20}$", re.ASCII)
_RECEIPT = re.compile(r"\d{16}", re.ASCII)


def normalize_digits(value: str) -> str:
    """Drop spaces and dashes people type between groups; every decimal digit (full-width
    １２３, Arabic-Indic ١٢٣ …) becomes its ASCII digit."""
    value = "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in value)
    return re.sub(r"[\s\-]", "", value)


def normalize_mobile(value: str) -> str:
    digits = normalize_digits(value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not _MOBILE.match(digits):
        raise ValidationError(_("请输入11位大陆手机号码，例如 13800138000。"), code="mobile")
    return digits


def normalize_phone(value: str) -> str:
    """Any caller number (landline or mobile) as logged by a hotline."""
    digits = normalize_digits(value)
    if not _PHONE.match(digits):
        raise ValidationError(_("来电号码格式不正确。"), code="phone")
    return digits


def normalize_id_card(value: str) -> str:
    """An 18-digit 居民身份证号 with a valid birth date and ISO 7064 check digit."""
    number = normalize_digits(value).upper()
    if not _ID_CARD.match(number):
        raise ValidationError(_("居民身份证号应为18位，最后一位可以是数字或X。"), code="id_card")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError(_("居民身份证号中的出生日期无效。"), code="id_card") from None
    if born.year < 1900 or born > date.today():
        raise ValidationError(_("居民身份证号中的出生日期无效。"), code="id_card")
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17]:
        raise ValidationError(_("居民身份证号校验位不正确，请核对。"), code="id_card")
    return number


def normalize_receipt(value: str) -> str:
    digits = normalize_digits(value)
    if not _RECEIPT.fullmatch(digits):
        raise ValidationError(_("查询码为16位数字。"), code="receipt")
    return digits


# C0 controls other than tab and line breaks, and DEL: typed by nobody, refused by
# spreadsheets (an export that holds one fails) and, as NUL, by PostgreSQL text columns.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_no_control_characters(value: str) -> None:
    if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
        raise ValidationError(_("含有无效的控制字符，请删除后重新提交。"), code="control_characters")


def format_receipt(code: str) -> str:
    """Groups of four for reading aloud: 1234 5678 9012 3456."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


# Dates anyone types (intake dates, filters, months) stay within these years: outside them
# a date is a typing slip, and arithmetic on it (time zones, week and month bounds) can
# leave Python's date range.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2099


def year_range_error() -> ValidationError:
    return ValidationError(
        _("日期应在 %(first)s 年至 %(last)s 年之间。"), code="year_range",
        params={"first": EARLIEST_YEAR, "last": LATEST_YEAR},
    )


def check_year(value: date) -> None:
    """A date or datetime outside EARLIEST_YEAR..LATEST_YEAR is refused with one message."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise year_range_error()


def parse_id(value: object) -> int | None:
    """A database id typed into a form or query string: ASCII digits only (str.isdigit also
    takes "²" and other digits int() refuses), at most 18 of them (a 64-bit integer), or None."""
    if not isinstance(value, str) or not 0 < len(value) <= 18 or not value.isascii() or not value.isdigit():
        return None
    return int(value)
