"""Identities: persons (keyed on the resident ID number), organisations (keyed on the unified
social credit code) and who may act for which organisation.

"一证通办": the resident ID number (GB 11643-1999) and the unified social credit code
(GB 32100-2015) are the one key of a citizen and of an organisation on every channel. The
number itself is personal data: it is stored only as a blind index and an AES-GCM blob
(:mod:`core.identifiers.protection`), and a person is known to relying parties only by an
opaque random ``subject`` (the OIDC ``sub``).

Modules: :mod:`.models` (frozen dataclasses), :mod:`.phone` (mainland mobile numbers),
:mod:`.errors`, :mod:`.storage` (tables and :class:`~.storage.SqlIdentityStore`),
:mod:`.service` (:class:`~.service.IdentityService`) and :mod:`.proofing` (real-name
proofing).
"""
