"""Consented sharing of licences (授权用证) and queries by department systems for their legal
duties, each read recorded with its purpose.

* **With consent.** A third party registered as a client asks, in the code flow, for the
  scope ``licence:read:<type code>`` and states a ``purpose`` (:mod:`idp.oauth.purpose`:
  required for these scopes, shown on the consent page, kept with the consent and the
  grant). Its access token then reads the *current* licences of that type held by the
  token's holder: the person (their resident ID number's blind index) or, when the person
  acted for an organisation, the organisation (its USCC's blind index, as long as the person
  still represents it with ``licence:read``). The holder is never named in the request.
  When the holder withdraws the consent, the grant and its tokens are revoked
  (:mod:`idp.admin.consents`), so the next read is refused.
* **For a legal duty.** A department system's own token (client credentials) with the scope
  ``licence:query:<type code>`` reads the current licences of that type held under a holder
  code it sends in the request body, stating the legal basis of the query.

Every read, found licences or none, is one row of ``licence_accesses``
(:mod:`certs.sharing_storage`) and one ``licence.shared`` audit entry, written together
before the licences are handed out; the holder lists these reads. Nothing here logs or
records a clear holder code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from certs.access import holder_indexes
from certs.errors import LicenceTypeNotFound
from certs.models import Licence
from certs.queries import USCC_KIND
from certs.service import LicenceService
from certs.sharing_storage import LicenceAccessRow, SqlAccessLog
from certs.type_storage import SqlLicenceTypeStore
from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.errors.problem import ProblemError
from core.identifiers.free_text import without_id_number
from idp.clients.storage import SqlClientStore
from idp.identities.storage import PersonRow, SqlIdentityStore
from idp.oauth.purpose import MAX_PURPOSE_LENGTH
from idp.oauth.storage import GrantRow

READ_SCOPE_PREFIX = "licence:read:"
QUERY_SCOPE_PREFIX = "licence:query:"
TYPE_CODE_LENGTH = 21
MAX_ACCESS_LIST = 200
Basis = Literal["consent", "legal_duty"]


def read_scope(type_code: str) -> str:
    """The scope a third party asks for to read a holder's licences of ``type_code``."""
    return READ_SCOPE_PREFIX + type_code


def query_scope(type_code: str) -> str:
    """The client-credentials scope of a department system querying ``type_code``."""
    return QUERY_SCOPE_PREFIX + type_code


class NoConsentedPurpose(ProblemError):
    """The token does not come from a consent with a stated purpose."""

    def __init__(self) -> None:
        super().__init__(
            403,
            "no-consented-purpose",
            "The token does not carry the holder's consent for a stated purpose",
            "ask the holder again with the scope licence:read:<type> and a purpose",
        )


class InvalidPurposeText(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "invalid-purpose",
            "The purpose is not valid",
            f"1 to {MAX_PURPOSE_LENGTH} characters",
        )


@dataclass(frozen=True)
class SharedRead:
    """What one read handed out, and under which access record."""

    access_id: str
    at: datetime
    basis: Basis
    purpose: str
    type_code: str
    licences: list[Licence]


@dataclass(frozen=True)
class AccessRecord:
    """One read of a holder's licences, as the holder sees it."""

    id: str
    at: datetime
    basis: Basis
    client_id: str
    client_name: str
    type_code: str
    purpose: str
    licences: tuple[str, ...]


class LicenceScopes:
    """The licence scopes, told to the provider (:class:`idp.oauth.purpose.ScopeExtension`):
    ``licence:read:<type>`` needs a stated purpose and is shown with the type's name."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.types = SqlLicenceTypeStore()

    def needs_purpose(self, scope: str) -> bool:
        return scope.startswith(READ_SCOPE_PREFIX)

    def label(self, scope: str, lang: str) -> str | None:
        if not scope.startswith(READ_SCOPE_PREFIX):
            return None
        code = scope[len(READ_SCOPE_PREFIX) :]
        with self.sessions() as session:
            row = self.types.type_row(session, code) if len(code) == TYPE_CODE_LENGTH else None
        name = row.name if row is not None else code
        if lang == "zh":
            return f"读取您的电子证照：{name}（当前有效版本的证照信息）"
        return f"read your electronic licence: {name} (the current version's data)"


def check_purpose_text(text: str) -> str:
    value = text.strip()
    if not value or len(value) > MAX_PURPOSE_LENGTH or any(ord(c) < 32 for c in value):
        raise InvalidPurposeText()
    return without_id_number(value, "purpose")  # it goes into the audit entry


class LicenceSharing:
    """Reads of holders' licences by third parties and departments, each recorded."""

    def __init__(self, licences: LicenceService) -> None:
        self.licences = licences
        self.log = SqlAccessLog()
        self.clients = SqlClientStore()
        self.identities = SqlIdentityStore()

    def _consenting_holder(self, session: Session, grant: GrantRow, at: datetime) -> str | None:
        """The blind index of the holder a grant reads for: the person, or the organisation
        the person acted for while they still may read its licences."""
        assert grant.person_id is not None
        if grant.organisation_id is None:
            person = session.get(PersonRow, grant.person_id)
            return None if person is None else person.id_number_index
        organisation = self.identities.organisation_by_id(session, grant.organisation_id)
        if organisation is None:
            return None
        index = self.licences.protector.blind_index(USCC_KIND, organisation.uscc)
        allowed = holder_indexes(
            session, self.licences.protector, grant.person_id, at, self.identities
        )
        return index if index in allowed else None

    def read_with_consent(self, client_id: str, grant_id: str, type_code: str) -> SharedRead:
        """The current licences of ``type_code`` of the holder behind grant ``grant_id``
        (the caller has checked the token and its ``licence:read:<type>`` scope)."""
        now = self.licences.clock()
        with transaction(self.licences.sessions) as session:
            # held until the read is recorded (FOR SHARE on PostgreSQL; SQLite's write lock):
            # a withdrawal of the consent revokes the grant either before this read, which
            # then hands out nothing, or after it, never while it is under way
            grant = session.get(GrantRow, grant_id, with_for_update={"read": True})
            if (
                grant is None
                or grant.revoked_at is not None
                or grant.client_id != client_id
                or grant.person_id is None
                or not grant.purpose
            ):
                raise NoConsentedPurpose()
            self._type_exists(session, type_code)
            holder = self._consenting_holder(session, grant, now)
            if holder is None:  # the person may no longer read the organisation's licences
                raise NoConsentedPurpose()
            found = self._current(session, holder, type_code)
            access = self._record(
                session,
                LicenceAccessRow(
                    id=secrets.token_hex(16),
                    at=now,
                    basis="consent",
                    client_id=client_id,
                    client_name=self._client_name(session, client_id),
                    type_code=type_code,
                    holder_code_index=holder,
                    holder_code_masked=None,
                    purpose=grant.purpose,
                    grant_id=grant.id,
                    consenting_person_id=grant.person_id,
                    licences=[licence.identifier for licence in found],
                ),
                actor=client_id,
            )
        return SharedRead(access.id, now, "consent", access.purpose, type_code, found)

    def query_for_duty(
        self, client_id: str, type_code: str, holder_code: str, legal_basis: str
    ) -> SharedRead:
        """The current licences of ``type_code`` held under ``holder_code``, for a department
        system's legal duty (the caller has checked its ``licence:query:<type>`` scope)."""
        basis_text = check_purpose_text(legal_basis)
        licence_type = self.licences.get_type(type_code)
        holder = self.licences._protect(licence_type.holder_code_type, holder_code)
        now = self.licences.clock()
        with transaction(self.licences.sessions) as session:
            found = self._current(session, holder.index, type_code)
            access = self._record(
                session,
                LicenceAccessRow(
                    id=secrets.token_hex(16),
                    at=now,
                    basis="legal_duty",
                    client_id=client_id,
                    client_name=self._client_name(session, client_id),
                    type_code=type_code,
                    holder_code_index=holder.index,
                    holder_code_masked=holder.masked,
                    purpose=basis_text,
                    grant_id=None,
                    consenting_person_id=None,
                    licences=[licence.identifier for licence in found],
                ),
                actor=client_id,
            )
        return SharedRead(access.id, now, "legal_duty", basis_text, type_code, found)

    def accesses_for(self, indexes: frozenset[str]) -> list[AccessRecord]:
        """The latest reads of licences held under ``indexes`` (the holder's own blind
        indexes, :func:`certs.access.holder_indexes`), newest first."""
        if not indexes:
            return []
        with self.licences.sessions() as session:
            rows = self.log.of_holders(session, sorted(indexes), MAX_ACCESS_LIST)
            return [
                AccessRecord(
                    row.id,
                    row.at,
                    "consent" if row.basis == "consent" else "legal_duty",
                    row.client_id,
                    row.client_name,
                    row.type_code,
                    row.purpose,
                    tuple(row.licences),
                )
                for row in rows
            ]

    # -- helpers ---------------------------------------------------------------------------

    def _type_exists(self, session: Session, type_code: str) -> None:
        if self.licences.types.type_row(session, type_code) is None:
            raise LicenceTypeNotFound()

    def _current(self, session: Session, index: str, type_code: str) -> list[Licence]:
        rows = self.licences.store.current_by_holder(session, [index])
        return [row.to_licence() for row in rows if row.type_code == type_code]

    def _client_name(self, session: Session, client_id: str) -> str:
        client = self.clients.get(session, client_id)
        return "" if client is None else client.name[:200]

    def _record(self, session: Session, row: LicenceAccessRow, actor: str) -> LicenceAccessRow:
        self.log.add(session, row)
        session.flush()
        self.licences.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="licence.shared",
                object_type="licence_access",
                object_id=row.id,
                details={
                    "basis": row.basis,
                    "client": row.client_id,
                    "holder_index": row.holder_code_index,
                    "type_code": row.type_code,
                    "purpose": row.purpose,
                    "grant": row.grant_id,
                    "licences": list(row.licences),
                },
            ),
        )
        return row
