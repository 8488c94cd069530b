"""Logs are JSON lines in which no ID number ever appears in clear."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from core.log import JsonFormatter, utc_time

ID = "11010519491231002X"
MISTYPED = "110105194912310021"


def emit(*args: object, **kwargs: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.info(*args, **kwargs)  # type: ignore[arg-type]
    line = stream.getvalue()
    assert ID not in line and MISTYPED not in line
    return json.loads(line)  # type: ignore[no-any-return]


def test_message_and_arguments_are_masked() -> None:
    entry = emit("login for %s failed, retry with %s", ID, MISTYPED)
    assert entry["message"] == (
        "login for 110105********002X failed, retry with 110105********0021"
    )
    assert entry["level"] == "INFO" and entry["logger"] == "test.redaction"


def test_extra_fields_are_masked() -> None:
    entry = emit("lookup", extra={"holder": ID, "nested": {"ids": [ID]}, "count": 3})
    assert entry["holder"] == "110105********002X"
    assert entry["nested"] == {"ids": ["110105********002X"]}
    assert entry["count"] == 3


def test_exception_text_is_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redaction.exc")
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        raise ValueError(f"no person {ID}")
    except ValueError:
        logger.exception("failed")
    entry = json.loads(stream.getvalue())
    assert ID not in stream.getvalue()
    assert "110105********002X" in entry["exception"]


def test_ordinary_numbers_are_left_alone() -> None:
    entry = emit("order %s of %s", "1234567890123", "91350100M000100Y43")
    assert entry["message"] == "order 1234567890123 of 91350100M000100Y43"


@given(st.floats(min_value=0, max_value=2**33, allow_nan=False, allow_infinity=False))
@example(2508307381.575)  # 0.575 is 0.57499... as a float: datetime rounds it to .575
@example(1_700_000_000.9999996)  # rounds up into the next second
@example(1_700_000_000.0)
def test_the_time_of_a_line_is_written_as_datetime_writes_it(created: float) -> None:
    """The formatter's time, formatted once per second, is ``datetime``'s to the digit."""
    assert utc_time(created) == datetime.fromtimestamp(created, UTC).isoformat(
        timespec="milliseconds"
    )


def test_a_line_without_extras_has_only_the_four_fields() -> None:
    entry = emit("%s - %s", "127.0.0.1:5555", "POST /token")
    assert list(entry) == ["time", "level", "logger", "message"]
    assert datetime.fromisoformat(str(entry["time"])).tzinfo is not None
