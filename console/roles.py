"""Which parts of the console a person may use, from their token and the registries.

A role counts only when both agree: the token carries the OAuth scope (the console client is
registered with every scope a role needs) *and* the registry gives the person the right:

- licence administrator: a representation of an issuing authority allowing
  ``licence:admin`` (:func:`certs.access.administered_authorities`);
- approver: ``seal:use`` and a grant to use a seal that is valid now or later
  (:class:`seal.registry.SealRegistry` checks it again, with the level, on every use);
- seal administrator: ``seal:admin`` and a representation allowing it (the legal
  representative allows everything), :meth:`seal.registry.SealRegistry.is_administrator`;
- platform administrator: the person's subject is in ``GOVTRUST_PLATFORM_ADMINS``
  (:mod:`console.platform`); no OAuth scope, so no API token ever carries the role.
"""

from __future__ import annotations

from dataclasses import dataclass

from certs.access import LICENCE_ADMIN_SCOPE, Authority, administered_authorities
from console.platform import is_platform_admin
from core.services import Services
from idp.identities.models import Organisation
from idp.identities.storage import SqlIdentityStore
from idp.oauth.server import ACCOUNT_SCOPE
from idp.routers.bearer import TokenContext
from seal.models import SEAL_ADMIN_SCOPE, SEAL_USE_SCOPE
from seal.storage import SqlSealStore


@dataclass(frozen=True)
class Roles:
    holder: bool
    """The person's own account: profile, sessions, consents, licences, organisations."""
    licence_authorities: tuple[Authority, ...] = ()
    """The issuing authorities whose licences the person administers."""
    approver: bool = False
    """The person holds a grant to use a seal (now or from a later date)."""
    seal_organisations: tuple[Organisation, ...] = ()
    """The organisations whose seals the person administers."""
    platform_admin: bool = False

    @property
    def licence_admin(self) -> bool:
        return bool(self.licence_authorities)

    @property
    def seal_admin(self) -> bool:
        return bool(self.seal_organisations)


def _approver(services: Services, person_id: str) -> bool:
    now = services.idp.ctx.clock()
    with services.sessions() as session:
        grants = SqlSealStore().grants_of_person(session, person_id)
    return any(g.revoked_at is None and g.valid_until > now for g in grants)


def _seal_organisations(services: Services, person_id: str) -> tuple[Organisation, ...]:
    store = SqlIdentityStore()
    now = services.idp.ctx.clock()
    found: list[Organisation] = []
    with services.sessions() as session:
        for held in store.representations_of_person(session, person_id, now):
            if not held.allows(SEAL_ADMIN_SCOPE):
                continue
            organisation = store.organisation_by_id(session, held.organisation_id)
            active = organisation is not None and organisation.status == "active"
            if active and organisation and all(o.id != organisation.id for o in found):
                found.append(organisation)
    return tuple(found)


def detect_roles(services: Services, token: TokenContext, subject: str = "") -> Roles:
    """The roles of the person behind ``token`` (``subject``: their own subject)."""
    person = token.person_id
    authorities: tuple[Authority, ...] = ()
    if LICENCE_ADMIN_SCOPE in token.scopes and person is not None:
        with services.sessions() as session:
            authorities = administered_authorities(session, person, services.idp.ctx.clock())
    approver = SEAL_USE_SCOPE in token.scopes and person is not None and _approver(services, person)
    seal_organisations: tuple[Organisation, ...] = ()
    if SEAL_ADMIN_SCOPE in token.scopes and person is not None:
        seal_organisations = _seal_organisations(services, person)
    return Roles(
        holder=ACCOUNT_SCOPE in token.scopes,
        licence_authorities=authorities,
        approver=approver,
        seal_organisations=seal_organisations,
        platform_admin=bool(subject) and is_platform_admin(services, subject),
    )
