"""A validator refuses a proposal whose time runs too far ahead of its clock."""

from __future__ import annotations

import io
from pathlib import Path

from tests.node.test_node_support import write_single_validator_network
from zonechain.node.node import PROPOSAL_TIME_AHEAD_MS_MAX, Node


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
