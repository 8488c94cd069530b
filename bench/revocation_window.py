"""How often an introspection right after a revocation still says "active" (PostgreSQL).

    .venv/bin/python bench/revocation_window.py              # 100 rounds, two workers

Each worker remembers the access tokens it found usable (``idp/oauth/usable_token_memory.py``)
and forgets them when a revocation may have changed one: at once in the revoking worker,
when PostgreSQL's notification arrives in the others. This starts ``govtrust serve --demo``
on a fresh PostgreSQL database with two workers (as ``run.py`` does) and repeats: issue a
client-credentials token, introspect it a few times (so that both workers are likely to
remember it), revoke it, introspect it once more. Every request goes on a new connection,
which the kernel hands to either worker. Prints how many of the last introspections said
active. Not a test: the window is a matter of milliseconds and of scheduling.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import check_backends, drop_databases, fresh_backends, start_govtrust

DATABASE = "bench_revocation_window"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warm", type=int, default=6, help="introspections before revoking")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    check_backends()
    scratch = Path(tempfile.mkdtemp(prefix="govtrust-window-"))
    system = start_govtrust(
        "window", "revocation window", args.workers, scratch, fresh_backends(DATABASE, 13)
    )
    try:
        service = system.target["service"]
        auth = (service["client_id"], service["client_secret"])
        no_reuse = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
        still_active = 0
        with httpx.Client(base_url=system.base, auth=auth, limits=no_reuse) as client:
            for _ in range(args.rounds):
                grant = {"grant_type": "client_credentials"}
                token = client.post("/token", data=grant).json()["access_token"]
                for _ in range(args.warm):
                    if not client.post("/introspect", data={"token": token}).json()["active"]:
                        raise SystemExit("a fresh token introspected as inactive")
                if client.post("/revoke", data={"token": token}).status_code != 200:
                    raise SystemExit("the revocation was refused")
                if client.post("/introspect", data={"token": token}).json()["active"]:
                    still_active += 1
    finally:
        system.stop()
        drop_databases([DATABASE])
    print(
        f"{still_active} of {args.rounds} introspections right after a revocation said active "
        f"({args.workers} workers, PostgreSQL)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
