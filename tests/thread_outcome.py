"""A call run on a thread of its own, so that a test can tell a call that failed in time from
one still waiting (the waits bounded by ``core/db/engine.py``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException | None]]:
    """Start ``call`` on a daemon thread; the list gets what it raised (None: it returned)
    once it ends."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # the outcome is what is asserted
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome
