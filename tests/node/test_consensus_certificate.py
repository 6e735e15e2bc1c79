"""verify_commit: the certificate check block sync and the SDK rely on."""

from __future__ import annotations

import pytest

from tests.node.test_consensus_support import CHAIN_ID, KEYS, VALIDATORS
from zonechain.node.consensus import InvalidCommit, commit_from_precommits, verify_commit
from zonechain.node.crypto import PrivateKey, sign_vote
from zonechain.node.types import Commit, CommitSignature, VoteType

BLOCK = b"\x42" * 32


def _commit(keys: list[PrivateKey], block: bytes = BLOCK, chain_id: str = CHAIN_ID) -> Commit:
    return commit_from_precommits(
        sign_vote(key, VoteType.PRECOMMIT, chain_id, 3, 1, block) for key in keys
    )


def test_a_two_thirds_certificate_verifies() -> None:
    assert verify_commit(_commit(KEYS[:3]), VALIDATORS, CHAIN_ID) == 3
    assert verify_commit(_commit(KEYS), VALIDATORS, CHAIN_ID) == 4


def test_too_little_power_is_refused() -> None:
    with pytest.raises(InvalidCommit, match="not more than 2/3"):
        verify_commit(_commit(KEYS[:2]), VALIDATORS, CHAIN_ID)


def test_a_stranger_a_bad_signature_or_another_chain_is_refused() -> None:
    stranger = PrivateKey.from_seed(b"\x77" * 32)
    with pytest.raises(InvalidCommit, match="not a validator"):
        verify_commit(_commit([*KEYS[:3], stranger]), VALIDATORS, CHAIN_ID)
    good = _commit(KEYS[:3])
    first = good.signatures[0]
    tampered = Commit(good.height, good.round, good.block_hash, (
        CommitSignature(first.validator, bytes([first.signature[0] ^ 1]) + first.signature[1:]),
        *good.signatures[1:],
    ))
    with pytest.raises(InvalidCommit, match="does not verify"):
        verify_commit(tampered, VALIDATORS, CHAIN_ID)
    with pytest.raises(InvalidCommit, match="does not verify"):
        verify_commit(_commit(KEYS[:3], chain_id="other-chain"), VALIDATORS, CHAIN_ID)
    moved = Commit(good.height, good.round, b"\x43" * 32, good.signatures)
    with pytest.raises(InvalidCommit, match="does not verify"):
        verify_commit(moved, VALIDATORS, CHAIN_ID)


def test_a_signer_counted_twice_is_refused() -> None:
    good = _commit(KEYS[:2])
    doubled = Commit(good.height, good.round, good.block_hash, good.signatures)
    object.__setattr__(doubled, "signatures", (good.signatures[0], *good.signatures))
    with pytest.raises(InvalidCommit, match="duplicate"):
        verify_commit(doubled, VALIDATORS, CHAIN_ID)


def test_precommits_for_different_things_do_not_make_a_commit() -> None:
    votes = [sign_vote(KEYS[0], VoteType.PRECOMMIT, CHAIN_ID, 3, 1, BLOCK),
             sign_vote(KEYS[1], VoteType.PRECOMMIT, CHAIN_ID, 3, 2, BLOCK)]
    with pytest.raises(InvalidCommit):
        commit_from_precommits(votes)
    with pytest.raises(InvalidCommit):
        commit_from_precommits([sign_vote(KEYS[0], VoteType.PRECOMMIT, CHAIN_ID, 3, 1, None)])
    with pytest.raises(InvalidCommit):
        commit_from_precommits([])
