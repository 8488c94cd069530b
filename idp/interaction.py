"""The state of one authorization request while the person logs in, chooses and consents.

Kept in the shared cache (Redis in production, so any worker can continue it), under a
random id, for ten minutes. The validated authorization request is kept as it came; the
form posts carry a CSRF token bound to the interaction, and the interaction is bound to the
browser that started it (``browser``: a keyed hash of that browser's random cookie), so a
login or consent cannot be completed from another browser (login CSRF, RFC 6749 §10.12;
RFC 9700 §4.7).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, replace

from core.cache.base import Cache

TTL_SECONDS = 600


@dataclass(frozen=True)
class Interaction:
    id: str
    query: str
    client_id: str
    scope: str
    csrf: str
    person_id: str | None = None
    session_public_id: str | None = None
    acting_as: str | None = None  # "self" or an organisation id, once chosen
    consented: bool = False
    required_acr: str | None = None  # from acr_values: step-up to this level first
    browser: str | None = None  # keyed hash of the starting browser's cookie

    def with_(self, **changes: object) -> Interaction:
        return replace(self, **changes)  # type: ignore[arg-type]


def _key(interaction_id: str) -> str:
    return f"interaction:{interaction_id}"


def start(
    cache: Cache,
    query: str,
    client_id: str,
    scope: str,
    required_acr: str | None = None,
    browser: str | None = None,
) -> Interaction:
    interaction = Interaction(
        id=secrets.token_urlsafe(16),
        query=query,
        client_id=client_id,
        scope=scope,
        csrf=secrets.token_urlsafe(24),
        required_acr=required_acr,
        browser=browser,
    )
    save(cache, interaction)
    return interaction


def save(cache: Cache, interaction: Interaction) -> None:
    cache.set(_key(interaction.id), json.dumps(asdict(interaction)).encode(), ttl=TTL_SECONDS)


def load(cache: Cache, interaction_id: str) -> Interaction | None:
    if len(interaction_id) > 64:
        return None
    raw = cache.get(_key(interaction_id))
    if raw is None:
        return None
    return Interaction(**json.loads(raw))


def finish(cache: Cache, interaction_id: str) -> bool:
    """End the interaction; True for the one caller that ended it (the cache's delete is
    atomic), False if it had already ended or expired."""
    return cache.delete(_key(interaction_id))
