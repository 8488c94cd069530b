"""SM2 (GB/T 32918.2, SM3 hash, default ID) against ECDSA P-256 / SHA-256, same run, one core.

Signs and verifies the same 380-byte message through the key objects govtrust uses:
:class:`keys.sm2.Sm2PrivateKey` (``tongsuopy``) for SM2 and ``cryptography`` for ECDSA, for
``--seconds`` each, and prints JSON (per-second rates). ``--markdown`` prints the table that
``bench/RESULTS.md`` carries instead.

    python bench/sm2.py --seconds 3 --markdown
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keys.sm2 import Sm2PrivateKey

MESSAGE = b"e" * 380


def rate(operation: Callable[[], object], seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            operation()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def measure(seconds: float) -> dict[str, float]:
    sm2 = Sm2PrivateKey.generate()
    sm2_public = sm2.public_key()
    sm2_signature = sm2.sign(MESSAGE)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_public = p256.public_key()
    ecdsa = ec.ECDSA(hashes.SHA256())
    p256_signature = p256.sign(MESSAGE, ecdsa)
    return {
        "sm2_sign_per_s": rate(lambda: sm2.sign(MESSAGE), seconds),
        "sm2_verify_per_s": rate(lambda: sm2_public.verify_sm2(sm2_signature, MESSAGE), seconds),
        "p256_sign_per_s": rate(lambda: p256.sign(MESSAGE, ecdsa), seconds),
        "p256_verify_per_s": rate(
            lambda: p256_public.verify(p256_signature, MESSAGE, ecdsa), seconds
        ),
    }


def markdown(result: dict[str, float]) -> str:
    rows = [
        ("SM2 / SM3 (tongsuopy)", result["sm2_sign_per_s"], result["sm2_verify_per_s"]),
        (
            "ECDSA P-256 / SHA-256 (cryptography)",
            result["p256_sign_per_s"],
            result["p256_verify_per_s"],
        ),
    ]
    lines = ["| algorithm | sign / s | verify / s |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {sign:,.0f} | {verify:,.0f} |" for name, sign, verify in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    result = measure(args.seconds)
    if args.markdown:
        print(markdown(result))
    else:
        print(json.dumps({**result, "python": platform.python_version()}, indent=2))


if __name__ == "__main__":
    main()
