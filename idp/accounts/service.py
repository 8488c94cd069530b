"""Setting a person's password (argon2id, with the password policy)."""

from __future__ import annotations

from collections.abc import Sequence

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp.accounts.storage import AccountRow
from idp.credentials.passwords import check_password_policy, hash_password
from idp.provider import Provider


class WeakPassword(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def set_password(
    provider: Provider,
    person_id: str,
    password: str,
    *,
    personal: Sequence[str] = (),
    actor: str = "system",
) -> None:
    problems = check_password_policy(password, personal=personal)
    if problems:
        raise WeakPassword(problems)
    password_hash = hash_password(password, params=provider.password_parameters)
    now = provider.ctx.clock()
    with transaction(provider.ctx.sessions) as session:
        account = session.get(AccountRow, person_id)
        if account is None:
            session.add(
                AccountRow(person_id=person_id, password_hash=password_hash, updated_at=now)
            )
        else:
            account.password_hash, account.updated_at = password_hash, now
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="account.password_set",
                object_type="person",
                object_id=person_id,
            ),
        )
