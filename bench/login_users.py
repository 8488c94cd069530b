"""Citizens for the login load: one account per concurrent login, as a platform sees them.

``run.py`` runs this once per govtrust system, in the system's working directory and with
its ``GOVTRUST_*`` settings, after ``govtrust serve --demo`` has seeded the demo (and before
any load): it registers ``--count`` citizens (valid resident ID numbers, GB 11643-1999,
proofed in the local registry as the demo's are) with the password in
``BENCH_LOGIN_PASSWORD``, each an agent of the demo company as the demo citizen is its
legal representative (so that every login has the same pages as the demo citizen's:
login, then whom the person acts for), and prints their usernames as a JSON list.

Why: the login throttle (``idp/credentials/throttle.py``) counts an attempt against its
account from the moment it begins, so eight logins of one account at once are throttled
(delayed, and beyond the account's limit refused and answered like a wrong password), as
an attack on that account would be. The load generator's eight workers therefore log in
as eight people; the peer, which has no throttle, accepts the same usernames.

    BENCH_LOGIN_PASSWORD=... python -P bench/login_users.py --count 16
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from core.identifiers.resident_id import check_digit
from core.services import build_services
from core.settings import Settings
from idp.accounts.service import set_password
from idp.demo import CITIZEN, COMPANY
from idp.identities.errors import IdentityExists
from idp.identities.proofing import LocalRegistryProofing
from idp.identities.service import IdentityService
from idp.identities.storage import SqlIdentityStore

REGION, BORN = "110101", "19900101"  # Beijing Dongcheng; 1 January 1990


def id_number(n: int) -> str:
    """The ``n``-th bench citizen's resident ID number (sequence 100 + n)."""
    first17 = f"{REGION}{BORN}{100 + n:03d}"
    return first17 + check_digit(first17)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=16)
    args = parser.parse_args(argv)
    password = os.environ["BENCH_LOGIN_PASSWORD"]
    services = build_services(Settings())
    try:
        identities = IdentityService(
            services.sessions, services.identifiers, services.audit, services.idp.ctx.clock
        )
        proofing = LocalRegistryProofing(services.sessions, services.identifiers)
        store = SqlIdentityStore()
        with services.sessions() as session:
            company = store.organisation_by_uscc(session, COMPANY["uscc"])
            citizen = store.person_by_id_number(session, services.identifiers, CITIZEN["id_number"])
        assert company is not None and citizen is not None, "seed the demo first"
        usernames = []
        for n in range(args.count):
            number, name = id_number(n), f"压测{n:02d}"
            proofing.add(number, name)
            try:
                person_id = identities.register_person(number, name, actor="bench").id
                identities.grant_agent(
                    company.id, person_id, ["profile"], None, granted_by=citizen.id
                )
            except IdentityExists:  # a database kept from an earlier run (--keep)
                with services.sessions() as session:
                    found = store.person_by_id_number(session, services.identifiers, number)
                assert found is not None
                person_id = found.id
            set_password(services.idp, person_id, password, actor="bench")
            usernames.append(number)
    finally:
        services.close()
    print(json.dumps(usernames))
    return 0


if __name__ == "__main__":
    sys.exit(main())
