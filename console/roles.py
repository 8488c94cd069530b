"""Which parts of the console a person may use, from their token and their representations.

A role counts only when both agree: the token carries the OAuth scope (the console client is
registered with every scope a role needs) *and* the person holds the right in the registry
(for a licence administrator, a representation of an issuing authority allowing
``licence:admin``, :func:`certs.access.administered_authorities`). Approver, seal
administrator and platform administrator pages are not built yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from certs.access import LICENCE_ADMIN_SCOPE, Authority, administered_authorities
from core.services import Services
from idp.oauth.server import ACCOUNT_SCOPE
from idp.routers.bearer import TokenContext


@dataclass(frozen=True)
class Roles:
    holder: bool
    """The person's own account: profile, sessions, consents, licences, organisations."""
    licence_authorities: tuple[Authority, ...] = ()
    """The issuing authorities whose licences the person administers."""

    @property
    def licence_admin(self) -> bool:
        return bool(self.licence_authorities)


def detect_roles(services: Services, token: TokenContext) -> Roles:
    authorities: tuple[Authority, ...] = ()
    if LICENCE_ADMIN_SCOPE in token.scopes and token.person_id is not None:
        with services.sessions() as session:
            authorities = administered_authorities(
                session, token.person_id, services.idp.ctx.clock()
            )
    return Roles(holder=ACCOUNT_SCOPE in token.scopes, licence_authorities=authorities)
