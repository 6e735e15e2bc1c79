"""The double-sign guard and its write-ahead record (node/consensus/signer.py)."""

from __future__ import annotations

import pytest

from zonechain.node.consensus import (
    DoubleSignRefused,
    GuardedSigner,
    MemorySignerStore,
    SignerStateCorrupt,
    SignState,
    Step,
)
from zonechain.node.crypto import PrivateKey, verify_proposal, verify_vote
from zonechain.node.types import Vote, VoteType

CHAIN = "signer-test"
KEY = PrivateKey.from_seed(b"\x07" * 32)
BLOCK_A, BLOCK_B = b"\xaa" * 32, b"\xbb" * 32
PREVOTE, PRECOMMIT = VoteType.PREVOTE, VoteType.PRECOMMIT


def test_the_same_vote_may_be_signed_again_a_conflicting_one_never() -> None:
    store = MemorySignerStore()
    signer = GuardedSigner(KEY, store)
    vote = signer.sign_vote(PREVOTE, CHAIN, 5, 2, BLOCK_A)
    verify_vote(vote, KEY.public_key)
    assert signer.sign_vote(PREVOTE, CHAIN, 5, 2, BLOCK_A) == vote
    for other in (None, BLOCK_B):
        with pytest.raises(DoubleSignRefused) as refused:
            signer.sign_vote(PREVOTE, CHAIN, 5, 2, other)
        assert refused.value.previous is not None
        assert Vote.decode(refused.value.previous) == vote


def test_going_back_to_an_earlier_slot_is_refused() -> None:
    signer = GuardedSigner(KEY, MemorySignerStore())
    signer.sign_vote(PRECOMMIT, CHAIN, 5, 2, None)
    for height, round, vote_type in ((5, 2, PREVOTE), (5, 1, PRECOMMIT), (4, 9, PRECOMMIT)):
        with pytest.raises(DoubleSignRefused) as refused:
            signer.sign_vote(vote_type, CHAIN, height, round, None)
        assert refused.value.previous is None
    assert signer.sign_vote(PREVOTE, CHAIN, 5, 3, BLOCK_B).round == 3


def test_a_new_signer_on_the_same_store_remembers() -> None:
    store = MemorySignerStore()
    GuardedSigner(KEY, store).sign_vote(PREVOTE, CHAIN, 9, 0, BLOCK_A)
    restarted = GuardedSigner(KEY, store)
    with pytest.raises(DoubleSignRefused):
        restarted.sign_vote(PREVOTE, CHAIN, 9, 0, BLOCK_B)


def test_proposals_are_guarded_too() -> None:
    signer = GuardedSigner(KEY, MemorySignerStore())
    proposal = signer.sign_proposal(CHAIN, 3, 1, None, BLOCK_A)
    verify_proposal(proposal, KEY.public_key)
    with pytest.raises(DoubleSignRefused):
        signer.sign_proposal(CHAIN, 3, 1, None, BLOCK_B)
    with pytest.raises(DoubleSignRefused):
        signer.sign_proposal(CHAIN, 3, 1, 0, BLOCK_A)  # same block, different message


def test_the_record_is_saved_before_the_vote_is_returned() -> None:
    class FailingStore(MemorySignerStore):
        def save(self, record: bytes) -> None:
            raise OSError("disk full")

    signer = GuardedSigner(KEY, FailingStore())
    with pytest.raises(OSError):
        signer.sign_vote(PREVOTE, CHAIN, 1, 0, BLOCK_A)
    assert signer.state is None  # nothing signed escaped, nothing remembered


def test_the_lock_is_recorded_with_the_precommit_and_kept_through_the_height() -> None:
    store = MemorySignerStore()
    signer = GuardedSigner(KEY, store)
    signer.sign_vote(PRECOMMIT, CHAIN, 2, 1, BLOCK_A)
    signer.sign_vote(PREVOTE, CHAIN, 2, 2, None)
    state = GuardedSigner(KEY, store).state
    assert state is not None
    assert (state.height, state.round, state.step) == (2, 2, Step.PREVOTE)
    assert (state.locked_round, state.locked_hash) == (1, BLOCK_A)
    signer.sign_vote(PREVOTE, CHAIN, 3, 0, None)  # a new height has no lock
    assert signer.state is not None and signer.state.locked_round is None


def test_sign_state_round_trips_and_corruption_is_a_typed_error() -> None:
    state = SignState(4, 1, Step.PRECOMMIT, BLOCK_A, b"signed", 1, BLOCK_A)
    assert SignState.decode(state.encode()) == state
    for bad in (b"", b"\x09" + state.encode()[1:], state.encode() + b"x", state.encode()[:-3]):
        with pytest.raises(SignerStateCorrupt):
            SignState.decode(bad)
    store = MemorySignerStore()
    store.save(b"\x01garbage")
    with pytest.raises(SignerStateCorrupt):
        GuardedSigner(KEY, store)
