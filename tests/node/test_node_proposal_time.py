"""Proposal validation and core rebuilds of an (unstarted) validator node."""

from __future__ import annotations

import dataclasses
import io
import time
from pathlib import Path

import pytest

from tests.node.test_node_support import write_single_validator_network
from zonechain.node.crypto import sign_vote
from zonechain.node.node import PROPOSAL_TIME_AHEAD_MS_MAX, PROPOSAL_TXS_MAX, Node
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


class _RecordedWaits:
    """Stands in for the node's stop event: records each wait, never blocks."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        return False

    def is_set(self) -> bool:
        return False


def test_a_proposer_waits_out_the_block_interval_after_its_last_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = write_single_validator_network(tmp_path / "net")
    node = Node(home, log_stream=io.StringIO())  # not started: the test drives it alone
    try:
        timeouts = dataclasses.replace(node.config.consensus, block_interval_ms=200)
        monkeypatch.setattr(node, "config", dataclasses.replace(node.config,
                                                                consensus=timeouts))
        interval_s = timeouts.block_interval_ms / 1000
        assert 0 < interval_s < timeouts.propose_ms / 2000
        ready = [object()]
        monkeypatch.setattr(node, "_reap", lambda: ready)  # txs are ready: no empty wait
        stop = _RecordedWaits()
        monkeypatch.setattr(node, "_stopping", stop)
        monkeypatch.setattr(time, "monotonic", lambda: 1_000.0)

        node._decided_at = 1_000.0 - 0.05  # the last commit began 50 ms ago
        assert node._reap_waiting() is ready
        assert stop.waits == [pytest.approx(interval_s - 0.05)]

        stop.waits.clear()
        node._decided_at = 1_000.0 - 60.0  # a later round, long after the commit
        assert node._reap_waiting() is ready
        assert stop.waits == []

        node._decided_at = 1_000.0 + 3_600.0  # never more than half a propose timeout
        assert node._reap_waiting() is ready
        assert stop.waits == [pytest.approx(timeouts.propose_ms / 2000)]

        stop.waits.clear()
        node._decided_at = 1_000.0
        monkeypatch.setattr(type(node.mempool), "__len__", lambda _: PROPOSAL_TXS_MAX)
        assert node._reap_waiting() is ready  # a full block is waiting: no reason to wait
        assert stop.waits == []

        monkeypatch.setattr(type(node.mempool), "__len__", lambda _: 0)
        monkeypatch.setattr(type(node.sync), "catching_up", property(lambda _: True))
        assert node._reap_waiting() is ready  # catching up: this height is long decided
        assert stop.waits == []
    finally:
        node.ledger.close()
