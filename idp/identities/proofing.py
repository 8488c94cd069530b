"""Real-name proofing (实名核验): does this resident ID number belong to this name?

In production this asks an authoritative source (the public-security citizen identity
service, through an adapter implementing :class:`RealNameProofing`). The embedded default,
:class:`LocalRegistryProofing`, answers from the ``real_name_registry`` table, which holds
the number only as a blind index (HMAC-SHA256, :mod:`core.identifiers.protection`) beside
the registered name; demo data and tests seed it with :meth:`LocalRegistryProofing.add`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from core.constant_time import same_text
from core.db.engine import transaction
from core.identifiers.protection import IdentifierProtector
from core.identifiers.resident_id import ResidentId
from idp.identities.errors import InvalidName
from idp.identities.models import normalise_name
from idp.identities.storage import SqlIdentityStore, id_number_index, parse_id_number


class RealNameProofing(Protocol):
    """Answers whether ``name`` is the name registered for ``id_number``."""

    def verify(self, id_number: ResidentId, name: str) -> bool: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LocalRegistryProofing:
    """:class:`RealNameProofing` over the local ``real_name_registry`` table.

    Names are compared after :func:`~idp.identities.models.normalise_name` (NFKC, one
    kind of middle dot, single spaces); an unknown number or a malformed name is a no.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        protector: IdentifierProtector,
        clock: Callable[[], datetime] = _utc_now,
        store: SqlIdentityStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.protector = protector
        self.clock = clock
        self.store = store or SqlIdentityStore()

    def verify(self, id_number: ResidentId, name: str) -> bool:
        try:
            wanted = normalise_name(name)
        except ValueError:
            return False
        with self.sessions() as session:
            registered = self.store.real_name(session, id_number_index(self.protector, id_number))
        if registered is None:
            return False
        return same_text(wanted, registered)

    def add(self, id_number: ResidentId | str, name: str) -> None:
        """Seed the registry: ``name`` is registered for ``id_number`` (replacing any
        earlier name). Raises :class:`~core.identifiers.errors.InvalidIdentifier` and
        :class:`~idp.identities.errors.InvalidName`."""
        resident = parse_id_number(id_number)
        try:
            clean = normalise_name(name)
        except ValueError:
            raise InvalidName() from None
        with transaction(self.sessions) as session:
            self.store.put_real_name(
                session, id_number_index(self.protector, resident), clean, self.clock()
            )
