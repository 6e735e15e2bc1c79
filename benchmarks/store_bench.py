"""Synced block commits per second for blocks shaped like 1,000 transfers.

Each block writes what a 1,000-transfer block writes: the block (~250 KB),
1,000 tx index entries and receipts, ~3,000 state writes, ~6,000 new tree
nodes and ~5,000 stale-node index entries, in one synced WriteBatch. The
figure measured is the wall time of ``NodeStore.commit_block`` (validation,
batch building and the synced write), split into its parts, plus a read-back
and a tree prune. Run::

    .venv/bin/python -m zonechain.benchmarks.store_bench --blocks 20

Speed figures belong here and in benchmarks/RESULTS.md, never in tests.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from zonechain.node.store import BlockCommit, NodeStore
from zonechain.node.store.commit import validate_commit

TRANSFERS_PER_BLOCK: Final = 1_000
STATE_WRITES_PER_BLOCK: Final = 3_000  # sender, receiver balance and sender nonce per transfer
TREE_NODES_PER_BLOCK: Final = 6_000  # leaves plus the internal nodes on their paths
STALE_NODES_PER_BLOCK: Final = 5_000  # most new internal nodes replace an older version
TX_BYTES: Final = 250
RECEIPT_BYTES: Final = 120
STATE_KEY_BYTES: Final = 53  # b"s" + 20 B contract + 32 B key
STATE_VALUE_BYTES: Final = 40
TREE_NODE_KEY_BYTES: Final = 18  # version u64 + nibble path
TREE_NODE_BYTES: Final = 220  # average of leaves (~70 B) and internal nodes (up to ~550 B)


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def filler(seed: bytes, size: int) -> bytes:
    """Incompressible-looking bytes of ``size`` (RocksDB compresses runs of one byte)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += digest(seed + counter.to_bytes(4, "big"))
        counter += 1
    return bytes(out[:size])


def make_block(height: int) -> BlockCommit:
    tag = height.to_bytes(8, "big")
    block = filler(b"block" + tag, TRANSFERS_PER_BLOCK * TX_BYTES)
    tx_hashes = tuple(digest(tag + i.to_bytes(4, "big")) for i in range(TRANSFERS_PER_BLOCK))
    receipts = tuple(filler(tx, RECEIPT_BYTES) for tx in tx_hashes)
    writes: dict[bytes, bytes | None] = {
        b"s" + filler(b"key" + i.to_bytes(4, "big"), STATE_KEY_BYTES - 1):
            filler(tag + i.to_bytes(4, "big"), STATE_VALUE_BYTES)
        for i in range(STATE_WRITES_PER_BLOCK)
    }
    nodes = {
        tag + filler(tag + i.to_bytes(4, "big"), TREE_NODE_KEY_BYTES - 8):
            filler(b"node" + tag + i.to_bytes(4, "big"), TREE_NODE_BYTES)
        for i in range(TREE_NODES_PER_BLOCK)
    }
    previous = (height - 1).to_bytes(8, "big") if height > 0 else tag
    stale = tuple(
        (height, previous + filler(previous + i.to_bytes(4, "big"), TREE_NODE_KEY_BYTES - 8))
        for i in range(STALE_NODES_PER_BLOCK)
    ) if height > 0 else ()
    return BlockCommit(
        height=height, block_hash=digest(block), block=block, state_root=digest(b"root" + tag),
        tx_hashes=tx_hashes, receipts=receipts, state_writes=writes, new_nodes=nodes,
        stale_nodes=stale, certificate=filler(b"cert" + tag, 3_000),
    )


def measure(directory: Path, blocks: int) -> dict[str, float]:
    commits = [make_block(height) for height in range(blocks)]
    commit_seconds: list[float] = []
    prepare_seconds: list[float] = []
    with NodeStore(directory, chain_id="bench") as store:
        for commit in commits:
            started = time.perf_counter()
            validate_commit(commit, commit.height)
            store._commit_batch(commit)  # built and dropped: the Python-side cost
            prepare_seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.commit_block(commit)
            commit_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        for commit in commits:
            for tx_hash in commit.tx_hashes:
                if store.load_receipt(tx_hash) is None:
                    raise RuntimeError("a committed receipt is missing")
        receipt_reads = blocks * TRANSFERS_PER_BLOCK / (time.perf_counter() - started)
        started = time.perf_counter()
        pruned = store.prune_tree(blocks - 1)
        prune_seconds = time.perf_counter() - started
    return {
        "commits_per_s": len(commit_seconds) / sum(commit_seconds),
        "commit_ms_median": statistics.median(commit_seconds) * 1000,
        "prepare_ms_median": statistics.median(prepare_seconds) * 1000,
        "receipt_reads_per_s": receipt_reads,
        "pruned_nodes": float(pruned),
        "prune_ms": prune_seconds * 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20, help="blocks to commit (default 20)")
    arguments = parser.parse_args(argv)
    if arguments.blocks < 2:
        parser.error("--blocks must be at least 2")
    with tempfile.TemporaryDirectory(prefix="zonechain-store-bench-") as directory:
        results = measure(Path(directory), arguments.blocks)
    records = TRANSFERS_PER_BLOCK * 2 + STATE_WRITES_PER_BLOCK + TREE_NODES_PER_BLOCK \
        + STALE_NODES_PER_BLOCK
    print(f"blocks: {arguments.blocks}, records per block: ~{records:,}")
    print(f"synced block commits/s: {results['commits_per_s']:.1f} "
          f"(median {results['commit_ms_median']:.1f} ms per block, of which "
          f"{results['prepare_ms_median']:.1f} ms validation + WriteBatch building in Python)")
    print(f"receipt reads/s: {results['receipt_reads_per_s']:,.0f}")
    print(f"prune of {results['pruned_nodes']:,.0f} stale nodes: {results['prune_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
