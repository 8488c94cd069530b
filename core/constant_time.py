"""Comparing secrets in constant time, whatever characters they hold.

``hmac.compare_digest`` takes two ``str`` only when both are ASCII; a form field, cookie or
claim of other characters made it raise ``TypeError`` (a 500 where a mismatch was meant).
Comparing their UTF-8 bytes answers a mismatch instead, and equal text stays equal.
"""

from __future__ import annotations

import hmac


def same_text(presented: str, expected: str) -> bool:
    # surrogatepass: a lone surrogate (a JSON string's "\\ud800") is text too
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
