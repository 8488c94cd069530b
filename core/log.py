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
from collections.abc import Callable
from typing import Any, TextIO

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
# the access log's lines (core.access_log) hold only strings, numbers and None
JSON_LINE = json.JSONEncoder(ensure_ascii=False)
ACCESS_LOGGER = "govtrust.access"
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


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None
) -> logging.StreamHandler[TextIO]:
    """Send the root, uvicorn and govtrust loggers to ``stream`` (stderr) as redacted JSON
    lines, uvicorn's access log excepted; the handler, for :func:`access_log_writer`."""
    # where each call was made from is not in the JSON line: not looking it up saves a
    # stack walk per record (the logging HOWTO, "Optimization")
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # the app writes its own access log (core.access_log); uvicorn writes one only when
    # its access logger has a handler, its own or by propagation
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
    return handler


def access_log_writer(handler: logging.StreamHandler[TextIO]) -> Callable[[str], None] | None:
    """What writes the access log's ready-made lines (``core.access_log``): to the stream
    of ``handler`` (as :func:`configure_logging` returns it), under the handler's lock as
    its records are, so that no line is cut by another; None when :data:`ACCESS_LOGGER` is
    below INFO (``GOVTRUST_LOG_LEVEL=WARNING`` turns the access log off)."""
    if not logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
        return None

    def write(line: str) -> None:
        handler.acquire()
        try:
            handler.stream.write(line + "\n")
            handler.stream.flush()
        finally:
            handler.release()

    return write
