"""What the admin API (``/admin``) and the self-service API (``/me``) do, without HTTP.

Modules by object: :mod:`.clients` (registering and disabling clients), :mod:`.persons`
(persons, organisations and lifting a login lockout), :mod:`.sessions` (login sessions and
ending them), :mod:`.consents` (a person's consents and withdrawing them), :mod:`.agents`
(who may act for an organisation), :mod:`.audit` (recording reads) and :mod:`.errors`.
Every change lands in the audit trail with opaque ids only ("全程留痕"), never an ID number.
"""
