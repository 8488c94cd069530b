"""Password login by resident ID number or mobile number, without revealing who exists.

The same message and, as far as the hash allows, the same time for an unknown person, a
wrong password and a locked account (the dummy hash of :mod:`idp.credentials.passwords`).
A successful login upgrades an old hash in place (rehash on login).
"""

from __future__ import annotations

import unicodedata

from core.db.engine import transaction
from core.identifiers.errors import InvalidIdentifier
from idp.accounts.storage import AccountRow
from idp.credentials.passwords import verify_password
from idp.identities.errors import InvalidPhone
from idp.identities.models import Person
from idp.provider import Provider


def find_person(provider: Provider, username: str) -> Person | None:
    """A person by ID number (18 characters) or mobile number, or None."""
    compact = "".join(username.split()).replace("-", "")
    with provider.ctx.sessions() as session:
        try:
            if len(compact) == 18:
                return provider.identities.person_by_id_number(session, provider.protector, compact)
            people = provider.identities.person_by_phone(session, provider.protector, compact)
        except (InvalidIdentifier, InvalidPhone):
            return None
    # A number shared by several people does not identify one: they log in by ID number.
    return people[0] if len(people) == 1 else None


def account_key(provider: Provider, username: str) -> str:
    """The throttling key of a username: a keyed hash, never the ID number itself."""
    # NFKC: a full-width spelling of the same number counts against the same account.
    compact = "".join(unicodedata.normalize("NFKC", username).split()).replace("-", "")
    return provider.ctx.digest("login", compact.upper())


def refuse_without_checking(provider: Provider, password: str) -> None:
    """A locked account: spend the time of a verification, check nothing, say the same."""
    verify_password(None, password, params=provider.password_parameters)


def password_login(provider: Provider, username: str, password: str) -> Person | None:
    """The person whose username and password these are; None otherwise."""
    person = find_person(provider, username)
    stored: str | None = None
    if person is not None and person.status == "active":
        with provider.ctx.sessions() as session:
            account = session.get(AccountRow, person.id)
            stored = account.password_hash if account else None
    check = verify_password(stored, password, params=provider.password_parameters)
    if not check.ok or person is None:
        return None
    if check.new_hash is not None:
        with transaction(provider.ctx.sessions) as session:
            account = session.get(AccountRow, person.id)
            if account is not None:
                account.password_hash = check.new_hash
                account.updated_at = provider.ctx.clock()
    return person
