"""A proposer's check without execution agrees with execution; committed tree nodes are kept.

``Ledger.precheck_block`` must raise exactly the InvalidBlock (code and tx
index) that ``check_block`` raises, and accept exactly the blocks it accepts,
since a proposer broadcasts on its word before executing (node/node.py).
After a commit the ledger remembers the tree nodes it wrote, so the next
block reads fewer nodes back from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.node.fixtures.chain import GENESIS_TIME_MS, key, make_genesis, mint, transfer
from zonechain.node.executor import InvalidBlock
from zonechain.node.ledger import Ledger
from zonechain.node.types.block import Block
from zonechain.node.types.transaction import SignedTransaction

ALICE, BOB, PROPOSER = key(1), key(2), key(99)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "db", make_genesis()) as opened:
        yield opened


def next_block(ledger: Ledger, txs: list[SignedTransaction]) -> Block:
    return ledger.propose_block(txs, GENESIS_TIME_MS + 1_000 * (ledger.height + 1), PROPOSER)


def _verdict(check: Callable[[Block], object], block: Block) -> tuple[str, int | None] | None:
    try:
        check(block)
    except InvalidBlock as error:
        return error.code, error.tx_index
    return None


CASES: dict[str, Callable[[], list[SignedTransaction]]] = {
    "valid sequence": lambda: [mint(ALICE, 0, ALICE.address, 5), mint(ALICE, 1, BOB.address, 5),
                               mint(BOB, 0, BOB.address, 1)],
    "contract error is still valid": lambda: [transfer(BOB, 0, ALICE.address, 10 ** 9)],
    "nonce gap in the block": lambda: [mint(ALICE, 0, ALICE.address, 1),
                                       mint(ALICE, 2, ALICE.address, 1)],
    "nonce from the future": lambda: [mint(BOB, 0, BOB.address, 1), mint(ALICE, 7, BOB.address, 1)],
    "repeated tx": lambda: [mint(ALICE, 0, ALICE.address, 1)] * 2,
    "expired": lambda: [mint(ALICE, 0, ALICE.address, 1, expiry_height=0)],
    "wrong chain": lambda: [mint(ALICE, 0, ALICE.address, 1, chain_id="another-chain")],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_precheck_agrees_with_execution(ledger: Ledger, case: str) -> None:
    block = next_block(ledger, CASES[case]())
    root, height = ledger.state_root, ledger.height
    expected = _verdict(ledger.check_block, block)
    assert _verdict(ledger.precheck_block, block) == expected
    assert (ledger.state_root, ledger.height) == (root, height)  # neither commits
    if case in ("valid sequence", "contract error is still valid"):
        assert expected is None
    else:
        assert expected is not None


def test_precheck_follows_nonces_across_committed_blocks(ledger: Ledger) -> None:
    ledger.apply_block(next_block(ledger, [mint(ALICE, 0, ALICE.address, 1)]))
    stale = next_block(ledger, [mint(ALICE, 0, ALICE.address, 1)])
    fresh = next_block(ledger, [mint(ALICE, 1, ALICE.address, 1)])
    assert _verdict(ledger.precheck_block, stale) == _verdict(ledger.check_block, stale)
    assert _verdict(ledger.precheck_block, stale) is not None
    assert _verdict(ledger.precheck_block, fresh) is None


def _node_reads(tmp_path: Path, remember: bool) -> int:
    """Tree-node reads from the store while checking the third of three blocks."""
    with Ledger.open(tmp_path / f"db-{remember}", make_genesis()) as ledger:
        if not remember:
            ledger.tree.remember = lambda update: None  # type: ignore[method-assign]
        senders = [key(index) for index in range(10, 60)]
        for nonce in range(2):
            ledger.apply_block(next_block(
                ledger, [mint(sender, nonce, sender.address, 1) for sender in senders]))
        reads = 0
        original = ledger.store.get_node

        def counting(node_key: bytes) -> bytes | None:
            nonlocal reads
            reads += 1
            return original(node_key)

        ledger.tree._reader = _CountingReader(counting)
        ledger.check_block(next_block(
            ledger, [mint(sender, 2, sender.address, 1) for sender in senders]))
        return reads


class _CountingReader:
    """A ``TreeNodeReader`` over a function (the test counts the calls)."""

    def __init__(self, get_node: Callable[[bytes], bytes | None]) -> None:
        self.get_node = get_node


def test_committed_tree_nodes_are_remembered(tmp_path: Path) -> None:
    with_memory, without = _node_reads(tmp_path, True), _node_reads(tmp_path, False)
    assert without > 0
    assert with_memory < without
