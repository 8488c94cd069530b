"""Structured JSON logging that never prints an ID number in clear.

Every record passes through :func:`core.identifiers.resident_id.redact_resident_ids`: the
formatted message, the exception text and any extra string fields. The redaction is by
shape, so a mistyped number (bad check digit) is masked too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
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


class JsonLinesHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure_logging` installs: records as JSON lines, and
    ready-made lines (:meth:`write_line`, the access log of ``core.access_log``).

    A ready-made line waits at most :attr:`LINGER_SECONDS` (a timer on the event loop that
    wrote it; at once from a thread without one), so that a busy server writes its access
    lines a batch at a time and not with one system call per request (``bench/PROFILE.md``,
    seventh pass). What waits is written before any record, so the stream keeps the order
    in which things were logged, and by :meth:`flush`, which ``logging.shutdown`` and the
    app's shutdown (``core.app``) call. A process killed outright loses at most
    :attr:`LINGER_SECONDS` of access lines, never a record.
    """

    LINGER_SECONDS = 0.1

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []

    def write_line(self, line: str) -> None:
        """Write ``line`` (one JSON object, no newline) within :attr:`LINGER_SECONDS`."""
        self.acquire()
        try:
            self._pending.append(line)
            first = len(self._pending) == 1
        finally:
            self.release()
        if not first:
            return  # a timer is already set
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
        else:
            loop.call_later(self.LINGER_SECONDS, self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        self._write_pending()  # logging.Handler.handle holds the lock
        super().emit(record)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
            super().flush()
        finally:
            self.release()

    def _write_pending(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []  # a failed write is not retried forever
            self.stream.write("\n".join(lines) + "\n")


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> JsonLinesHandler:
    """Send the root, uvicorn and govtrust loggers to ``stream`` (stderr) as redacted JSON
    lines, uvicorn's access log excepted; the handler, for :func:`access_log_sink`."""
    # where each call was made from is not in the JSON line: not looking it up saves a
    # stack walk per record (the logging HOWTO, "Optimization")
    logging._srcfile = None
    handler = JsonLinesHandler(sys.stderr if stream is None else stream)
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


def access_log_sink(handler: JsonLinesHandler) -> JsonLinesHandler | None:
    """Where the access log's lines go (``core.access_log``): ``handler``, as
    :func:`configure_logging` returns it; None when :data:`ACCESS_LOGGER` is below INFO
    (``GOVTRUST_LOG_LEVEL=WARNING`` turns the access log off)."""
    return handler if logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO) else None
