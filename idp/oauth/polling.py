"""How often a client may poll the token endpoint while a person decides: the device grant
(RFC 8628 §3.5) and CIBA's poll mode (CIBA Core §7.3, §11).

Each poll is recorded in the shared cache under the authorization's key: when it came and
the interval it must keep. A poll sooner than the interval after the previous one is too
fast (``slow_down``), and the interval grows by 5 s "for this and all subsequent requests".

The record is read, judged and written back with :meth:`core.cache.base.Cache.replace`,
so that polls arriving at the same moment on different workers are judged one after the
other: of several simultaneous polls, at most one is not too fast. With a plain get-then-set
every one of them read the same record, none was too fast, and none grew the interval.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.cache.base import Cache

SLOW_DOWN_SECONDS = 5  # RFC 8628 §3.5; CIBA Core §11
# A poll whose write was overtaken this many times in a row (by as many other polls of the
# same authorization, each too fast but one) is answered slow_down without being recorded.
ATTEMPTS = 8


@dataclass(frozen=True)
class Poll:
    too_fast: bool
    interval: int  # seconds the client must now wait between polls


def record_poll(cache: Cache, key: str, now: float, interval: int, retention: float) -> Poll:
    """Record a poll at ``now`` (seconds, the provider's clock) of the authorization kept
    under ``key``, whose first interval is ``interval``; the record is kept ``retention``
    seconds."""
    kept = interval
    for _ in range(ATTEMPTS):
        raw = cache.get(key)
        last: float | None = None
        kept = interval
        if raw is not None:
            state = json.loads(raw)
            last, kept = float(state["last"]), int(state["interval"])
        poll = _judged(last, kept, now)
        body = json.dumps({"last": now, "interval": poll.interval}).encode()
        if cache.replace(key, raw, body, ttl=retention):
            return poll
    return Poll(True, kept + SLOW_DOWN_SECONDS)


def _judged(last: float | None, interval: int, now: float) -> Poll:
    if last is not None and now - last < interval:
        return Poll(True, interval + SLOW_DOWN_SECONDS)
    return Poll(False, interval)
