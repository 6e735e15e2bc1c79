"""Calibrates ``storage_next_key``'s per-skipped-key gas (vm/gas.py) against a lookup.

Over a real RocksDB ``NodeStore`` holding ``--keys`` contract keys, with the
layering the executor uses (a block overlay, a transaction overlay over it),
it times, per key: a lookup (``get``, what ``GAS_STORAGE_READ_BASE`` pays for),
a ``next_key`` seek (``GAS_STORAGE_NEXT_KEY_BASE``), a walk step over a key the
transaction deleted that committed state still holds (skip + a new seek), a
step over a key deleted only in an overlay (skip), and that step again with
the deepest nesting (block + transaction + ``CALL_DEPTH_MAX`` nested calls).
Each is printed in µs and as gas at the lookup's rate (1,000 gas per lookup).
The best of ``--repeat`` runs is kept: the figure is a floor, for ratios.

Command: ``.venv/bin/python -m zonechain.benchmarks.next_key_bench``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

from zonechain.node.store import NodeStore
from zonechain.node.store.commit import BlockCommit
from zonechain.vm import gas, limits
from zonechain.vm.overlay import Overlay

KEYS_DEFAULT = 2_000
REPEAT_DEFAULT = 20
CONTRACT_PREFIX = b"s" + b"\x01" * 20
TOMBSTONE_PREFIX = b"s" + b"\x02" * 20
DEEP_PREFIX = b"s" + b"\x03" * 20
END = b"\xff"


def best_ns(work: Callable[[], object], repeat: int) -> int:
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        work()
        times.append(time.perf_counter_ns() - start)
    return min(times)


def ignore_skip(reseek: bool) -> None:
    del reseek


def _nested(store: NodeStore, depth: int) -> list[Overlay]:
    layers = [Overlay(store)]
    for _ in range(depth - 1):
        layers.append(layers[-1].child())
    return layers


def _walk(top: Overlay, prefix: bytes) -> Callable[[], object]:
    return lambda: top.next_key(prefix, None, ignore_skip)


def measure(store: NodeStore, count: int, repeat: int) -> dict[str, float]:
    """Nanoseconds per operation, keyed by name."""
    keys = [CONTRACT_PREFIX + index.to_bytes(4, "big") for index in range(count)]
    top = Overlay(Overlay(store))
    figures = {
        "lookup": best_ns(lambda: [top.get(key) for key in keys], repeat) / count,
        "seek": best_ns(lambda: [top.next_key(CONTRACT_PREFIX, key) for key in keys],
                        repeat) / count,
    }
    for key in keys:
        top.delete(key)
    figures["skip + reseek"] = best_ns(
        lambda: top.next_key(CONTRACT_PREFIX, None, ignore_skip), repeat) / count
    for name, prefix, depth in (("skip, 2 layers", TOMBSTONE_PREFIX, 2),
                                ("skip, deepest nesting", DEEP_PREFIX,
                                 2 + limits.CALL_DEPTH_MAX)):
        layers = _nested(store, depth)
        for index in range(count):
            layers[index % depth].delete(prefix + index.to_bytes(4, "big"))
        layers[0].put(prefix + END, b"x")
        figures[name] = best_ns(_walk(layers[-1], prefix), repeat) / count
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=KEYS_DEFAULT)
    parser.add_argument("--repeat", type=int, default=REPEAT_DEFAULT)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        store = NodeStore.open(directory, chain_id="next-key-bench")
        writes: dict[bytes, bytes | None] = {
            CONTRACT_PREFIX + index.to_bytes(4, "big"): b"v" * 8
            for index in range(options.keys)}
        writes[CONTRACT_PREFIX + END] = b"end"
        store.commit_block(BlockCommit(0, b"\x01" * 32, b"block", b"\x02" * 32,
                                       state_writes=writes))
        try:
            figures = measure(store, options.keys, options.repeat)
        finally:
            store.close()
    lookup = figures["lookup"]
    for name, nanoseconds in figures.items():
        at_lookup_rate = gas.GAS_STORAGE_READ_BASE * nanoseconds / lookup
        print(f"{name:24} {nanoseconds / 1000:6.2f} µs  ~{at_lookup_rate:6.0f} gas")
    skip = gas.GAS_STORAGE_NEXT_KEY_PER_SKIPPED
    print(f"charged: skip {skip}, skip + reseek {skip + gas.GAS_STORAGE_NEXT_KEY_PER_RESEEK}")


if __name__ == "__main__":
    main()
