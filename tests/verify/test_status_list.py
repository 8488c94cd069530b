"""Token Status List encoding (draft-ietf-oauth-status-list §4): the draft's examples, the
bit layout, and signed status list tokens (typ, signature, subject)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import pytest

from keys.jws import b64url
from tests.verify.conftest import LocalSigner
from verify.status_list import (
    SIZE_STEP,
    Status,
    StatusList,
    StatusListError,
    list_size,
    pack,
    read_status_list,
    sign_status_list,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_the_drafts_one_bit_example() -> None:
    statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    data = pack(((i, Status(s)) for i, s in enumerate(statuses)), 16, bits=1)
    assert data == bytes([0xB9, 0xA3])
    decoded = StatusList.from_claim({"bits": 1, "lst": "eNrbuRgAAhcBXQ"})
    assert [decoded.status(i) for i in range(16)] == statuses


def test_the_drafts_two_bit_example() -> None:
    statuses = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    data = pack(((i, Status(s)) for i, s in enumerate(statuses)), 12)
    assert data == bytes([0xC9, 0x44, 0xF9])
    decoded = StatusList.from_claim({"bits": 2, "lst": "eNo76fITAAPfAgc"})
    assert [decoded.status(i) for i in range(12)] == statuses


def test_entries_are_valid_unless_listed_and_the_size_grows_in_steps() -> None:
    assert list_size(0) == list_size(1) == SIZE_STEP
    assert list_size(SIZE_STEP + 1) == 2 * SIZE_STEP
    status_list = StatusList(2, pack([(5000, Status.SUPERSEDED)], list_size(5001)))
    assert status_list.size == SIZE_STEP
    assert status_list.status(5000) == Status.SUPERSEDED
    assert status_list.status(4999) == status_list.status(5001) == Status.VALID
    with pytest.raises(StatusListError, match="outside"):
        status_list.status(SIZE_STEP)
    with pytest.raises(ValueError, match="outside"):
        pack([(SIZE_STEP, Status.INVALID)], SIZE_STEP)


def test_a_million_entries_compress_to_a_few_kilobytes() -> None:
    size = list_size(1_000_000)
    revoked = ((index, Status.INVALID) for index in range(0, 1_000_000, 100))  # 1 %
    claim = StatusList(2, pack(revoked, size)).claim()
    assert len(claim["lst"]) < 40_000


@pytest.mark.parametrize(
    "claim",
    [
        None,
        {"bits": 3, "lst": "eNo76fITAAPfAgc"},
        {"bits": 2},
        {"bits": 2, "lst": "not zlib"},
        {"bits": 2, "lst": b64url(b"plain bytes")},
    ],
)
def test_malformed_lists_are_refused(claim: object) -> None:
    with pytest.raises(StatusListError):
        StatusList.from_claim(claim)


def test_a_signed_list_round_trips() -> None:
    signer = LocalSigner()
    status_list = StatusList(2, pack([(3, Status.SUSPENDED)], SIZE_STEP))
    token = sign_status_list(
        status_list, "https://govtrust.test/verify/status-lists/1", signer, NOW, 3600, 60
    )
    read = read_status_list(token, signer.keys())
    assert read.uri == "https://govtrust.test/verify/status-lists/1"
    assert read.issued_at == NOW
    assert read.ttl == 60
    assert (read.expires_at - read.issued_at).total_seconds() == 3600
    assert read.status_list.status(3) == Status.SUSPENDED


def test_a_list_signed_by_another_key_or_edited_is_refused() -> None:
    signer, stranger = LocalSigner(), LocalSigner()
    status_list = StatusList(2, pack([], SIZE_STEP))
    token = sign_status_list(status_list, "https://x/1", stranger, NOW, 3600, 60)
    with pytest.raises(StatusListError, match="not valid"):
        read_status_list(token, signer.keys())
    head, _, signature = sign_status_list(status_list, "https://x/1", signer, NOW, 3600, 60).split(
        "."
    )
    edited = b64url(
        b'{"sub":"https://x/1","iat":1,"status_list":{"bits":2,"lst":"'
        + b64url(zlib.compress(b"\xff" * 8)).encode()
        + b'"}}'
    )
    with pytest.raises(StatusListError, match="not valid"):
        read_status_list(f"{head}.{edited}.{signature}", signer.keys())
