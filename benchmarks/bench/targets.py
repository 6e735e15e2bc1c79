"""Where the load goes: a ``Target`` admits transactions and reports commits.

``LedgerTarget`` is one node in this process: transactions enter the real
mempool (all admission checks, the ed25519 verify included), and ``poll``
plays the proposer: when the block interval has passed, or a full block is
waiting, it reaps the mempool, proposes, applies (execute, state tree, one
synced RocksDB batch) and updates the mempool. A transaction is committed, and
for a single node final, when ``apply_block`` returns; that instant is its
commit time. Block header times are synthetic (genesis + 1 s per height), so
the chain itself is deterministic; only the measurements use the wall clock.

The devnet and remote-endpoint targets (``network.py``) implement the same
protocol over the SDK client.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from zonechain.benchmarks.bench.load import Clock
from zonechain.benchmarks.bench.workloads import CHAIN_ID, Workload, derive_key
from zonechain.node.ledger import Genesis, Ledger
from zonechain.node.mempool import Mempool, MempoolRejection
from zonechain.node.state.reference import reference_root
from zonechain.node.types.limits import BLOCK_TXS_MAX
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction

GENESIS_TIME_MS: Final = 1_764_288_000_000
HEADER_INTERVAL_MS: Final = 1_000
"""Synthetic block time step (header time only; blocks are produced as fast as asked)."""
REFERENCE_ROOT_KEYS_MAX: Final = 100_000
"""Above this many state keys the pure-Python reference root would take minutes: skipped."""


@dataclass(frozen=True)
class Committed:
    """A transaction in a committed block, with its receipt and commit time (seconds)."""

    tx_hash: bytes
    receipt: Receipt
    height: int
    committed_s: float


@dataclass(frozen=True)
class BlockRecord:
    height: int
    txs: int
    gas: int
    committed_s: float
    build_and_apply_s: float


@dataclass(frozen=True)
class StateAgreement:
    """Whether every node (or the reference computation) gives the same state root."""

    agreed: bool
    roots: dict[str, str]
    note: str

    def as_dict(self) -> dict[str, object]:
        return {"agreed": self.agreed, "roots": self.roots, "note": self.note}


class Target(Protocol):
    name: str
    chain_id: str

    def submit_many(self, txs: list[SignedTransaction]) -> list[str | None]:
        """Admit ``txs`` in order: for each, None or the rejection's reason code."""

    def poll(self, now_s: float) -> tuple[list[Committed], list[BlockRecord]]:
        """Commits since the last poll (the ledger target makes blocks here)."""

    def seconds_until_work(self, now_s: float) -> float:
        """How long ``poll`` has nothing to do (the generator may idle that long)."""

    def process_ids(self) -> list[int]:
        """The node processes, for CPU and memory figures."""

    def state_agreement(self) -> StateAgreement:
        """The final state-root check."""

    def close(self) -> None: ...


class LedgerTarget:
    """One in-process node: mempool -> propose -> apply; see the module docstring."""

    name = "ledger"
    chain_id = CHAIN_ID

    def __init__(self, directory: Path, workload: Workload, clock: Clock, *,
                 block_txs: int = 2_000, block_interval_s: float = 0.2) -> None:
        if not 1 <= block_txs <= BLOCK_TXS_MAX:
            raise ValueError(f"block size must be in 1..{BLOCK_TXS_MAX}, got {block_txs}")
        if block_interval_s < 0:
            raise ValueError("the block interval must be >= 0")
        genesis = Genesis(CHAIN_ID, GENESIS_TIME_MS, contracts=tuple(workload.genesis_contracts))
        self.ledger = Ledger.open(directory / "ledger", genesis)
        self.mempool = Mempool(CHAIN_ID, self.ledger.store, self.ledger.height)
        self.proposer = derive_key(workload.seed, "proposer")
        self.clock = clock
        self.block_txs = block_txs
        self.block_interval_s = block_interval_s
        self.last_block_s = clock()

    def submit_many(self, txs: list[SignedTransaction]) -> list[str | None]:
        return [self._submit(tx) for tx in txs]

    def _submit(self, tx: SignedTransaction) -> str | None:
        try:
            self.mempool.add(tx)
        except MempoolRejection as rejection:
            return rejection.reason_code
        return None

    def seconds_until_work(self, now_s: float) -> float:
        if len(self.mempool) == 0:
            return self.block_interval_s
        return max(self.last_block_s + self.block_interval_s - now_s, 0.0)

    def poll(self, now_s: float) -> tuple[list[Committed], list[BlockRecord]]:
        full = len(self.mempool) >= self.block_txs
        if len(self.mempool) == 0 or (not full and now_s - self.last_block_s
                                      < self.block_interval_s):
            return [], []
        txs = self.mempool.reap(self.block_txs)
        if not txs:
            return [], []
        start = self.clock()
        ledger = self.ledger
        time_ms = GENESIS_TIME_MS + HEADER_INTERVAL_MS * (ledger.height + 1)
        block = ledger.propose_block(txs, time_ms, self.proposer)
        receipts = ledger.apply_block(block)
        self.mempool.update(block)
        done = self.clock()
        self.last_block_s = done
        committed = [Committed(tx.hash, receipt, block.height, done)
                     for tx, receipt in zip(block.txs, receipts, strict=True)]
        gas = sum(receipt.gas_used for receipt in receipts)
        return committed, [BlockRecord(block.height, len(txs), gas, done, done - start)]

    def process_ids(self) -> list[int]:
        return [os.getpid()]

    def state_agreement(self) -> StateAgreement:
        """The tree's root against the reference definition over the full state."""
        ledger = self.ledger
        items: dict[bytes, bytes] = {}
        key = ledger.store.next_key(b"", None)
        while key is not None:
            if len(items) >= REFERENCE_ROOT_KEYS_MAX:
                return StateAgreement(True, {"node": ledger.state_root.hex()},
                                      "single node; state too large for the reference root")
            value = ledger.store.get(key)
            assert value is not None
            items[key] = value
            key = ledger.store.next_key(b"", key)
        reference = reference_root(items)
        agreed = reference == ledger.state_root
        return StateAgreement(
            agreed, {"node": ledger.state_root.hex(), "reference": reference.hex()},
            f"single node: state root at height {ledger.height} recomputed from all "
            f"{len(items)} state entries by node/state/reference.py")

    def close(self) -> None:
        self.ledger.close()
