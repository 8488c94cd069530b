"""Identity claims released per scope (OpenID Connect Core §5.4, with this service's own).

| scope          | claims                                                              |
| -------------- | ------------------------------------------------------------------- |
| profile        | ``name``, ``id_number_masked`` (110105********002X)                 |
| phone          | ``phone_number``, ``phone_number_verified``                         |
| id_number      | ``id_number``: the full number, only under this scope and consent   |
| organisation   | ``org_name``, ``org_uscc``, ``org_role`` when acting for one         |
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.identifiers.protection import IdentifierProtector
from idp.clients.models import Client
from idp.identities.storage import PHONE_KIND, PersonRow, SqlIdentityStore
from idp.oauth.context import IdpContext
from idp.oauth.principal import Principal

# the scopes whose claims need more than the person's row: a decryption, the organisation
# and its representations (a caller holding only the row leaves them to IdentityClaims)
SCOPES_BEYOND_THE_PERSON_ROW = frozenset({"phone", "id_number", "organisation"})


def profile_claims(name: str, id_number_masked: str) -> dict[str, Any]:
    """The ``profile`` scope's claims: the name and the masked ID number, never the number."""
    return {"name": name, "id_number_masked": id_number_masked}


class IdentityClaims:
    def __init__(
        self, ctx: IdpContext, store: SqlIdentityStore, protector: IdentifierProtector
    ) -> None:
        self.ctx = ctx
        self.store = store
        self.protector = protector

    def claims(
        self,
        principal: Principal,
        scopes: set[str],
        client: Client,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """``session``: the request's unit of work when there is one (the token endpoint),
        so that an ID token does not hold a second pooled connection beside it."""
        if session is None:
            with self.ctx.sessions() as own:
                return self._claims(own, principal, scopes)
        return self._claims(session, principal, scopes)

    def _claims(self, session: Session, principal: Principal, scopes: set[str]) -> dict[str, Any]:
        released: dict[str, Any] = {}
        row = session.get(PersonRow, principal.person_id)
        if row is None:
            return released
        if "profile" in scopes:
            released.update(profile_claims(row.name, row.id_number_masked))
        if "phone" in scopes and row.phone_encrypted is not None:
            released["phone_number"] = "+86" + self.protector.decrypt(
                PHONE_KIND, bytes(row.phone_encrypted)
            )
            released["phone_number_verified"] = True
        if "id_number" in scopes:
            number = self.store.decrypt_id_number(session, self.protector, row.id)
            released["id_number"] = number.value
        if "organisation" in scopes and principal.organisation_id:
            organisation = self.store.organisation_by_id(session, principal.organisation_id)
            if organisation is not None:
                released["org_name"] = organisation.name
                released["org_uscc"] = organisation.uscc
                roles = [
                    r.role
                    for r in self.store.representations_of_person(
                        session, principal.person_id, self.ctx.clock()
                    )
                    if r.organisation_id == organisation.id
                ]
                if roles:
                    released["org_role"] = roles[0]
        return released
