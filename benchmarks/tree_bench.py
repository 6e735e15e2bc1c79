"""Benchmark of the state tree: batch updates per second and proof sizes.

Usage::

    python -m zonechain.benchmarks.tree_bench --sizes 10000 100000 --batches 20

For each tree size it loads that many random keys, then commits batches of
``--batch-size`` updates (two thirds overwrite existing keys, one third insert
new ones, as transfers mostly touch existing balances) over an in-memory node
store, and reports:

- updates/s for ``put_batch`` alone (per wall-clock second and per second
  of this process's CPU time, which a shared machine disturbs less) and for a
  whole commit (``put_batch``, store apply, ``remember``);
- new nodes written and nodes read from the store (cache misses) per batch,
  which is what a RocksDB store pays for on top;
- proof sizes (encoded bytes) for present and absent keys, and proof
  generation and verification rates.

Timings use ``time.perf_counter`` and ``time.process_time`` (this is a
benchmark, not state code).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from zonechain.node.state.memory import MemoryNodeStore
from zonechain.node.state.proof import verify_proof
from zonechain.node.state.tree import JellyfishMerkleTree

LOAD_BATCH_KEYS = 50_000
KEY_BYTES = 21  # a prefix byte and a 20-byte address, like vm/state.py keys
VALUE_BYTES = 16


class CountingReader:
    """Wraps a node store, counting reads that reach it."""

    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store
        self.reads = 0

    def get_node(self, node_key: bytes) -> bytes | None:
        self.reads += 1
        return self.store.get_node(node_key)


@dataclass
class ProofFigures:
    present_proof_bytes: tuple[float, int]  # mean, max
    absent_proof_bytes: tuple[float, int]
    proofs_per_second: float
    verifies_per_second: float


@dataclass
class SizeResult:
    keys: int
    load_seconds: float
    compute_updates_per_second: float
    compute_updates_per_cpu_second: float
    commit_updates_per_second: float
    new_nodes_per_batch: float
    store_reads_per_batch: float
    proofs: ProofFigures


def run_size(keys_total: int, batches: int, batch_size: int, proofs: int, seed: int) -> SizeResult:
    rng = random.Random(seed)
    store = MemoryNodeStore()
    reader = CountingReader(store)
    tree = JellyfishMerkleTree(reader)
    keys = [rng.randbytes(KEY_BYTES) for _ in range(keys_total)]
    values: dict[bytes, bytes] = {}
    version: int | None = None
    started = time.perf_counter()
    for start in range(0, keys_total, LOAD_BATCH_KEYS):
        batch = {key: rng.randbytes(VALUE_BYTES) for key in keys[start : start + LOAD_BATCH_KEYS]}
        version = commit(store, tree, version, batch)
        values.update(batch)
    load_seconds = time.perf_counter() - started
    compute = compute_cpu = commit_total = 0.0
    new_nodes = 0
    reads_before = reader.reads
    for _ in range(batches):
        batch = {}
        for index in range(batch_size):
            key = rng.choice(keys) if index % 3 else rng.randbytes(KEY_BYTES)
            batch[key] = rng.randbytes(VALUE_BYTES)
        started, started_cpu = time.perf_counter(), time.process_time()
        next_version = 0 if version is None else version + 1
        update = tree.put_batch(next_version, version, batch)
        computed, computed_cpu = time.perf_counter(), time.process_time()
        compute_cpu += computed_cpu - started_cpu
        store.apply(update)
        tree.remember(update)
        compute += computed - started
        commit_total += time.perf_counter() - started
        new_nodes += len(update.new_nodes)
        version = next_version
        values.update(batch)
        keys.extend(key for key in batch if len(keys) < keys_total * 2)
    assert version is not None
    updates = batches * batch_size
    return SizeResult(
        keys=keys_total,
        load_seconds=load_seconds,
        compute_updates_per_second=updates / compute,
        compute_updates_per_cpu_second=updates / compute_cpu,
        commit_updates_per_second=updates / commit_total,
        new_nodes_per_batch=new_nodes / batches,
        store_reads_per_batch=(reader.reads - reads_before) / batches,
        proofs=measure_proofs(tree, version, rng, sorted(values), values, proofs),
    )


def commit(
    store: MemoryNodeStore, tree: JellyfishMerkleTree, version: int | None,
    batch: dict[bytes, bytes],
) -> int:
    next_version = 0 if version is None else version + 1
    update = tree.put_batch(next_version, version, dict(batch))
    store.apply(update)
    tree.remember(update)
    return next_version


def measure_proofs(
    tree: JellyfishMerkleTree, version: int, rng: random.Random, keys: list[bytes],
    values: dict[bytes, bytes], count: int,
) -> ProofFigures:
    root = tree.root_hash(version)
    present = rng.sample(keys, count)
    absent = [rng.randbytes(KEY_BYTES) for _ in range(count)]
    started = time.perf_counter()
    present_proofs = [tree.get_proof(key, version) for key in present]
    absent_proofs = [tree.get_proof(key, version) for key in absent]
    proofs_per_second = 2 * count / (time.perf_counter() - started)
    started = time.perf_counter()
    for key, proof in zip(present, present_proofs, strict=True):
        verify_proof(root, key, values[key], proof)
    for key, proof in zip(absent, absent_proofs, strict=True):
        verify_proof(root, key, None, proof)
    verifies_per_second = 2 * count / (time.perf_counter() - started)
    present_sizes = [len(proof.encode()) for proof in present_proofs]
    absent_sizes = [len(proof.encode()) for proof in absent_proofs]
    return ProofFigures(
        present_proof_bytes=(statistics.fmean(present_sizes), max(present_sizes)),
        absent_proof_bytes=(statistics.fmean(absent_sizes), max(absent_sizes)),
        proofs_per_second=proofs_per_second,
        verifies_per_second=verifies_per_second,
    )


def format_result(result: SizeResult) -> str:
    proofs = result.proofs
    present_mean, present_max = proofs.present_proof_bytes
    absent_mean, absent_max = proofs.absent_proof_bytes
    return (
        f"| {result.keys:>9,} | {result.load_seconds:6.1f} s "
        f"| {result.compute_updates_per_second:8,.0f} "
        f"| {result.compute_updates_per_cpu_second:8,.0f} "
        f"| {result.commit_updates_per_second:8,.0f} "
        f"| {result.new_nodes_per_batch:6,.0f} | {result.store_reads_per_batch:6,.0f} "
        f"| {present_mean:5.0f} / {present_max:4d} | {absent_mean:5.0f} / {absent_max:4d} "
        f"| {proofs.proofs_per_second:7,.0f} | {proofs.verifies_per_second:7,.0f} |"
    )


HEADER = (
    "| keys      | load     | put_batch upd/s | put_batch upd/CPU-s | commit upd/s "
    "| new nodes/batch "
    "| store reads/batch | present proof B mean/max | absent proof B mean/max "
    "| proofs/s | verifies/s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--proofs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    print(HEADER)
    for size in args.sizes:
        result = run_size(size, args.batches, args.batch_size, args.proofs, args.seed)
        print(format_result(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
