"""What the registry publishes for verifiers: the entries of the licence status list that
are not in force, and the names of licence types and issuing authorities (the QR carries
only their codes).

Every licence version and every paper print owns one index of the status list (allocated
from the ``status-list`` counter when it is created). Most entries are in force, so only the
others are read: versions that are not ``valid``, prints that are lost or destroyed or show
such a version. A revoked licence makes *all* its versions and prints read as revoked, so
that an old paper copy of a cancelled licence says "revoked", not "superseded" (as the
online check does, :mod:`certs.prints`). Expiry is not listed: the QR carries the validity.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from certs.lifecycle import LicenceState
from certs.storage import LicenceCounterRow, LicencePrintRow, LicenceRow
from certs.type_storage import LicenceTypeRow

STATUS_LIST_COUNTER = "status-list"


class EntryCondition(StrEnum):
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    SUPERSEDED = "superseded"
    PRINT_WITHDRAWN = "print_withdrawn"


_VERSION_CONDITIONS = {
    LicenceState.REVOKED.value: EntryCondition.REVOKED,
    LicenceState.SUSPENDED.value: EntryCondition.SUSPENDED,
    LicenceState.SUPERSEDED.value: EntryCondition.SUPERSEDED,
}


def allocated_entries(session: Session) -> int:
    """How many indices were handed out (the list must be at least this long)."""
    query = select(LicenceCounterRow.last_value).where(
        LicenceCounterRow.name == STATUS_LIST_COUNTER
    )
    return int(session.scalars(query).one_or_none() or 0)


def entries_not_in_force(session: Session) -> Iterator[tuple[int, EntryCondition]]:
    """(index, condition) of every entry that is not in force; the rest are."""
    chain = (LicenceRow.type_code, LicenceRow.issuer_uscc, LicenceRow.serial)
    versions = session.execute(
        select(LicenceRow.status_list_index, LicenceRow.state, *chain).where(
            LicenceRow.state.in_(list(_VERSION_CONDITIONS))
        )
    ).all()
    revoked_chains = {tuple(row[2:]) for row in versions if row.state == LicenceState.REVOKED.value}
    for index, state, *key in versions:
        condition = (
            EntryCondition.REVOKED if tuple(key) in revoked_chains else _VERSION_CONDITIONS[state]
        )
        yield index, condition
    prints = session.execute(
        select(LicencePrintRow.status_list_index, LicencePrintRow.status, LicenceRow.state, *chain)
        .join(LicenceRow, LicenceRow.identifier == LicencePrintRow.identifier)
        .where(LicencePrintRow.status_list_index.is_not(None))
        .where(
            or_(
                LicencePrintRow.status != "active",
                LicenceRow.state.in_(list(_VERSION_CONDITIONS)),
            )
        )
    ).all()
    for print_index, print_state, state, *key in prints:
        assert print_index is not None  # the query keeps prints that have an index
        if print_state != "active":
            yield print_index, EntryCondition.PRINT_WITHDRAWN
        elif tuple(key) in revoked_chains:
            yield print_index, EntryCondition.REVOKED
        else:
            yield print_index, _VERSION_CONDITIONS[state]


def licence_type_names(session: Session) -> dict[str, str]:
    """Licence type code -> name, for every registered type."""
    rows = session.execute(select(LicenceTypeRow.code, LicenceTypeRow.name))
    return {code: name for code, name in rows}


def issuing_authority_names(session: Session) -> dict[str, str]:
    """Issuer USCC -> name of every authority that has issued a licence (one of its names,
    if it was renamed)."""
    rows = session.execute(
        select(LicenceRow.issuer_uscc, LicenceRow.issuer_name)
        .distinct()
        .order_by(LicenceRow.issuer_uscc)
    )
    return {uscc: name for uscc, name in rows}
