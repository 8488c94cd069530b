"""A date range typed in a list's filter form (China dates, both ends inclusive), as the
UTC moments a query compares with: ``[start of from, end of to)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Query

from console.pages import day_end, day_start
from core.errors.problem import ProblemError


@dataclass(frozen=True)
class DateRange:
    since: date | None = None
    until: date | None = None

    @property
    def start(self) -> datetime | None:
        """The first moment of ``since`` in China, in UTC."""
        if self.since is None:
            return None
        return day_start(self.since)

    @property
    def end(self) -> datetime | None:
        """The moment after ``until`` ends in China, in UTC (exclusive)."""
        if self.until is None:
            return None
        return day_end(self.until)

    @property
    def empty(self) -> bool:
        """True when the range cannot hold anything (``until`` before ``since``)."""
        return self.since is not None and self.until is not None and self.until < self.since

    def params(self) -> dict[str, str]:
        """The range as query parameters (for the pager's links)."""
        found = {"since": self.since, "until": self.until}
        return {k: v.isoformat() for k, v in found.items() if v is not None}


DateText = Annotated[str | None, Query(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
"""A date from a filter form's ``<input type="date">``; empty when not given."""


def date_range(since: str | None, until: str | None) -> DateRange:
    """The range typed in; a date that does not exist answers 400."""
    try:
        return DateRange(
            date.fromisoformat(since) if since else None,
            date.fromisoformat(until) if until else None,
        )
    except ValueError:
        raise ProblemError(400, "invalid-date", "Invalid date") from None
