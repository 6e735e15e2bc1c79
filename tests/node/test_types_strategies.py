"""Hypothesis strategies for every protocol type (imported by the other type tests).

The strategies draw small but structurally complete values: every optional
both present and absent, every payload kind, every status.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.types import (
    Block,
    BlockHeader,
    CallPayload,
    Commit,
    CommitSignature,
    DeployPayload,
    DuplicateVoteEvidence,
    Event,
    GovernancePayload,
    Proposal,
    Receipt,
    ReceiptStatus,
    SignedTransaction,
    Transaction,
    Vote,
    VoteType,
)
from zonechain.node.types.limits import CHAIN_ID_PATTERN
from zonechain.vm.abi import METHOD_NAME_PATTERN

U64 = st.integers(0, 2**64 - 1)
U32 = st.integers(0, 2**32 - 1)
HASHES = st.binary(min_size=32, max_size=32)
ADDRESSES = st.binary(min_size=20, max_size=20)
SIGNATURES = st.binary(min_size=64, max_size=64)
KEYS = st.binary(min_size=32, max_size=32)
SMALL_BYTES = st.binary(max_size=40)
CHAIN_IDS = st.from_regex(CHAIN_ID_PATTERN, fullmatch=True)
ZONES = st.text(min_size=1, max_size=16)
METHODS = st.from_regex(METHOD_NAME_PATTERN, fullmatch=True)

PAYLOADS = st.one_of(
    st.builds(DeployPayload, SMALL_BYTES, SMALL_BYTES),
    st.builds(CallPayload, ADDRESSES, METHODS, SMALL_BYTES),
    st.builds(GovernancePayload, SMALL_BYTES),
)
TRANSACTIONS = st.builds(
    Transaction, chain_id=CHAIN_IDS, sender=KEYS, nonce=U64, gas_limit=U64, zone=ZONES,
    payload=PAYLOADS, expiry_height=st.none() | U64,
)
SIGNED_TRANSACTIONS = st.builds(SignedTransaction, TRANSACTIONS, SIGNATURES)
VOTES = st.builds(
    Vote, st.sampled_from(VoteType), CHAIN_IDS, U64, U32, st.none() | HASHES, ADDRESSES,
    SIGNATURES,
)


@st.composite
def proposals(draw: st.DrawFn) -> Proposal:
    round_ = draw(U32)
    pol_round = draw(st.none() | st.integers(0, max(round_ - 1, 0)))
    if pol_round is not None and pol_round >= round_:
        pol_round = None
    return Proposal(draw(CHAIN_IDS), draw(U64), round_, pol_round, draw(HASHES),
                    draw(ADDRESSES), draw(SIGNATURES))


@st.composite
def commits(draw: st.DrawFn) -> Commit:
    validators = draw(st.lists(ADDRESSES, min_size=1, max_size=5, unique=True))
    signatures = [CommitSignature(v, draw(SIGNATURES)) for v in validators]
    return Commit.from_signatures(draw(U64), draw(U32), draw(HASHES), signatures)


@st.composite
def evidence(draw: st.DrawFn) -> DuplicateVoteEvidence:
    first = draw(VOTES)
    other_hash = draw(st.none() | HASHES)
    if other_hash == first.block_hash:
        other_hash = bytes(32) if first.block_hash is None else None
    second = Vote(first.type, first.chain_id, first.height, first.round, other_hash,
                  first.validator, draw(SIGNATURES))
    return DuplicateVoteEvidence.from_votes(first, second)


EVENTS = st.builds(Event, ADDRESSES, SMALL_BYTES, SMALL_BYTES)


@st.composite
def receipts(draw: st.DrawFn) -> Receipt:
    status = draw(st.sampled_from(ReceiptStatus))
    failed = status is not ReceiptStatus.SUCCESS
    code = draw(st.text(min_size=1, max_size=16)) if failed else ""
    message = draw(st.text(max_size=32)) if failed else ""
    return Receipt(
        draw(HASHES), status, draw(U64), draw(SMALL_BYTES),
        tuple(draw(st.lists(EVENTS, max_size=3))), code, message,
        draw(st.none() | ADDRESSES),
    )


HEADERS = st.builds(
    BlockHeader, chain_id=CHAIN_IDS, height=st.integers(1, 2**64 - 1), time_ms=U64,
    previous_block_hash=HASHES, tx_root=HASHES, last_state_root=HASHES,
    last_receipts_root=HASHES, last_commit_hash=HASHES, validator_set_hash=HASHES,
    evidence_root=HASHES, proposer=ADDRESSES,
)
BLOCKS = st.builds(
    Block, HEADERS, st.lists(SIGNED_TRANSACTIONS, max_size=3).map(tuple),
    st.none() | commits(), st.lists(evidence(), max_size=2).map(tuple),
)

ALL_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "Transaction": TRANSACTIONS,
    "SignedTransaction": SIGNED_TRANSACTIONS,
    "Vote": VOTES,
    "Proposal": proposals(),
    "Commit": commits(),
    "DuplicateVoteEvidence": evidence(),
    "Event": EVENTS,
    "Receipt": receipts(),
    "BlockHeader": HEADERS,
    "Block": BLOCKS,
}


@settings(max_examples=20)
@given(st.data())
def test_every_strategy_draws_valid_values(data: st.DataObject) -> None:
    for name, strategy in ALL_TYPES.items():
        value = data.draw(strategy, label=name)
        assert type(value).__name__ == name
