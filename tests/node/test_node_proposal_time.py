"""Proposal validation and core rebuilds of an (unstarted) validator node."""

from __future__ import annotations

import io
from pathlib import Path

from tests.node.test_node_support import write_single_validator_network
from zonechain.node.crypto import sign_vote
from zonechain.node.node import PROPOSAL_TIME_AHEAD_MS_MAX, Node
from zonechain.node.types.block import Block
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.vote import VoteType


def test_far_future_proposal_is_invalid_and_a_timely_one_is_valid(tmp_path: Path) -> None:
    home = write_single_validator_network(tmp_path / "net")
    log = io.StringIO()
    node = Node(home, log_stream=log)  # not started: nothing else touches the ledger
    try:
        assert node.key is not None
        set_hash = node.validators_at(1).hash
        now = node.now_ms()
        far = node.ledger.propose_block([], now + PROPOSAL_TIME_AHEAD_MS_MAX + 60_000,
                                        node.key, validator_set_hash=set_hash)
        timely = node.ledger.propose_block([], now, node.key, validator_set_hash=set_hash)

        assert node.validate(far) is False
        assert "time_too_far_ahead" in log.getvalue()
        assert node.validate(timely) is True
    finally:
        node.ledger.close()


def test_evidence_not_yet_in_a_block_survives_a_core_rebuild(tmp_path: Path) -> None:
    home = write_single_validator_network(tmp_path / "net")
    node = Node(home, log_stream=io.StringIO())  # not started: the test drives it alone
    try:
        assert node.key is not None
        first = sign_vote(node.key, VoteType.PREVOTE, node.chain_id, 1, 0, bytes([7]) * 32)
        second = sign_vote(node.key, VoteType.PREVOTE, node.chain_id, 1, 0, None)
        evidence = DuplicateVoteEvidence.from_votes(first, second)
        assert node.core.evidence.add(evidence)
        node._rebuild_core = True

        node._after_effects()  # the fresh core of a lone validator proposes at once

        committed = [Block.decode(raw).evidence for height in range(1, node.ledger.height + 1)
                     if (raw := node.store.load_block(height)) is not None]
        assert evidence in node.core.evidence.pending() or (evidence,) in committed
    finally:
        node.ledger.close()
