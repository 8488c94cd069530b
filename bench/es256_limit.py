"""The physical limit of the token endpoints: ES256 in ``cryptography`` on one core.

Signs (and verifies) a JWS-sized message with ECDSA P-256 / SHA-256, in one thread, for
``--seconds`` each, and prints JSON: ``sign_per_s``, ``verify_per_s``. Only the signature
itself: no JSON, no base64, no DER-to-raw conversion (a token endpoint does all of those
and more, so it can reach only a share of this rate per core).

    python bench/es256_limit.py --seconds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# about the size of a JWS signing input of an RFC 9068 access token
MESSAGE = b"e" * 380


def rate(operation: object, seconds: float) -> float:
    assert callable(operation)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            operation()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def measure(seconds: float) -> dict[str, float]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    algorithm = ec.ECDSA(hashes.SHA256())
    signature = key.sign(MESSAGE, algorithm)
    rate(lambda: key.sign(MESSAGE, algorithm), 0.3)  # warm-up
    return {
        "sign_per_s": round(rate(lambda: key.sign(MESSAGE, algorithm), seconds), 1),
        "verify_per_s": round(
            rate(lambda: public.verify(signature, MESSAGE, algorithm), seconds), 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    json.dump(measure(args.seconds), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
