"""Structured JSON logging that never prints an ID number in clear.

Every record passes through :func:`core.identifiers.resident_id.redact_resident_ids`: the
formatted message, the exception text and any extra string fields. The redaction is by
shape, so a mistyped number (bad check digit) is masked too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from core.identifiers.resident_id import redact_resident_ids

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_resident_ids(value)
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_resident_ids(str(value))


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def utc_time(created: float) -> str:
    """``created`` (seconds since the epoch) as ISO 8601 UTC to the millisecond, as
    ``datetime.isoformat(timespec="milliseconds")`` writes it; a log line's time is
    formatted once per second, not once per line (every request writes an access line)."""
    global _second
    whole = int(created)
    microseconds = round((created - whole) * 1e6)  # rounded as datetime.fromtimestamp does
    if microseconds >= 1_000_000:
        whole, microseconds = whole + 1, microseconds - 1_000_000
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{microseconds // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_resident_ids(record.getMessage()),
        }
        if record.__dict__.keys() - _STANDARD_ATTRS:  # most records have no extras
            for name, value in vars(record).items():
                if name not in _STANDARD_ATTRS and not name.startswith("_"):
                    entry[name] = _redact(value)
        if record.exc_info:
            entry["exception"] = redact_resident_ids(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact_resident_ids(self.formatStack(record.stack_info))
        return _ENCODER.encode(entry)


def configure_logging(level: str = "INFO") -> None:
    """Send the root, uvicorn and govtrust loggers to stderr as redacted JSON lines."""
    # where each call was made from is not in the JSON line: not looking it up saves a
    # stack walk per record (the logging HOWTO, "Optimization")
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
