"""Argument types shared by the management commands: a bad value stops the command with
one line naming it (argparse's error), before anything runs."""

from __future__ import annotations

import argparse
from datetime import date

from intake.validators import EARLIEST_YEAR, LATEST_YEAR


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
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise argparse.ArgumentTypeError(f"not between {EARLIEST_YEAR} and {LATEST_YEAR}: {value!r}")
    return day


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from exc
