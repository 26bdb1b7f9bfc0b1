"""Argument types shared by the management commands: a bad value stops the command with
one line naming it (argparse's error), before anything runs."""

from __future__ import annotations

import argparse
from datetime import date

from django.core.exceptions import ValidationError

from intake.validators import EARLIEST_YEAR, LATEST_YEAR, check_year


def positive_int(value: str) -> int:
    number = _int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return number


def non_negative_int(value: str) -> int:
    number = _int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value!r}")
    return number


def plausible_day(value: str) -> date:
    """A YYYY-MM-DD day within the years anyone can mean."""
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc
    try:
        check_year(day)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"not between {EARLIEST_YEAR} and {LATEST_YEAR}: {value!r}") from exc
    return day


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from exc
