"""Next-height messages are bounded by bytes as well as by count (state_machine.py
FUTURE_MESSAGES_BYTES_MAX): a proposal counts its block, what does not fit is
dropped, and the buffer is emptied (and its byte count reset) at the next height."""

from __future__ import annotations

import pytest

from tests.node.test_consensus_support import (
    KEYS,
    feed_proposal,
    make_block,
    make_core,
    proposal_message,
    proposer_key,
    vote_message,
)
from zonechain.node.consensus import ConsensusMessage, state_machine
from zonechain.node.consensus.state_machine import (
    FUTURE_MESSAGES_BYTES_MAX,
    FUTURE_MESSAGES_MAX,
    message_bytes,
)
from zonechain.node.types import VoteType
from zonechain.node.types.limits import BLOCK_BYTES_MAX


def test_the_byte_bound_holds_a_few_maximal_blocks_not_thousands() -> None:
    assert 2 * BLOCK_BYTES_MAX < FUTURE_MESSAGES_BYTES_MAX < 8 * BLOCK_BYTES_MAX
    assert FUTURE_MESSAGES_MAX * BLOCK_BYTES_MAX > 100 * FUTURE_MESSAGES_BYTES_MAX


def test_next_height_messages_are_dropped_beyond_the_byte_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    core, _ = make_core(KEYS[0])
    core.start()
    proposals = [proposal_message(2, round, make_block(2, proposer_key(2, round).address,
                                                       time_ms=round))
                 for round in range(3)]
    votes = [vote_message(key, VoteType.PREVOTE, 2, 0, proposals[0].block.hash)
             for key in KEYS[1:]]
    proposal_size, vote_size = message_bytes(proposals[0]), message_bytes(votes[0])
    assert proposal_size > 2 * vote_size  # a proposal counts its block
    assert {message_bytes(m) for m in proposals} == {proposal_size}
    limit = 2 * proposal_size + len(votes) * vote_size
    monkeypatch.setattr(state_machine, "FUTURE_MESSAGES_BYTES_MAX", limit)
    messages: list[ConsensusMessage] = [*votes, *proposals]
    for message in messages:
        core.handle(message)
    kept = core._future
    assert kept == [*votes, proposals[0], proposals[1]]  # the third proposal did not fit
    assert core._future_bytes == sum(message_bytes(m) for m in kept) <= limit
    # Deciding height 1 replays the buffer and starts counting afresh.
    block = make_block(1, proposer_key(1, 0).address)
    feed_proposal(core, proposal_message(1, 0, block))
    for key in KEYS[1:]:
        core.handle(vote_message(key, VoteType.PRECOMMIT, 1, 0, block.hash))
    assert core.height == 2
    assert core._future == [] and core._future_bytes == 0
