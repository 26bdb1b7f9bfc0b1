"""Tests for mobile, ID-card and receipt validation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from intake.validators import format_receipt, normalize_id_card, normalize_mobile, normalize_receipt


def test_it_accepts_a_valid_id_card_with_x_check_digit() -> None:
    assert normalize_id_card("11010519491231002x") == "11010519491231002X"


def test_it_accepts_a_valid_id_card() -> None:
    assert normalize_id_card("110101199003077651") == "110101199003077651"


@pytest.mark.parametrize(
    "number",
    ["110101199003077652", "11010119900307765", "1101011990030776511", "110101199013077651", "abcdefghijklmnopqr"],
)
def test_it_rejects_bad_id_cards(number: str) -> None:
    with pytest.raises(ValidationError):
        normalize_id_card(number)


def test_it_normalizes_mobile_numbers() -> None:
    assert normalize_mobile("+86 138-0013-8000") == "13800138000"


@pytest.mark.parametrize("number", ["12800138000", "1380013800", "010-12345678"])
def test_it_rejects_bad_mobile_numbers(number: str) -> None:
    with pytest.raises(ValidationError):
        normalize_mobile(number)


def test_it_groups_receipts_for_reading_aloud() -> None:
    assert format_receipt("1234567890123456") == "1234 5678 9012 3456"
    assert normalize_receipt("1234 5678 9012 3456") == "1234567890123456"
