"""Who administers the platform: the people whose subjects ``GOVTRUST_PLATFORM_ADMINS``
lists (:class:`core.settings.Settings`).

A setting, not an OAuth scope: the admin API's ``admin:*`` scopes belong to back-end
clients (client credentials), and no token a person gets through any client, the console's
included, carries the role. The console also asks a platform administrator for two factors
(:data:`REQUIRED_ACR`) before it shows any platform page.
"""

from __future__ import annotations

from core.constant_time import same_text
from core.services import Services
from idp.oauth.sessions import LOA_TWO_FACTOR

REQUIRED_ACR = LOA_TWO_FACTOR


def is_platform_admin(services: Services, subject: str) -> bool:
    listed = services.settings.platform_admins
    return any(same_text(subject, known) for known in listed)
