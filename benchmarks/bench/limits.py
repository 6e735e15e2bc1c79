"""Physical limits of this machine, measured on the spot, to scale the end-to-end figure.

Each is a rate of one thing every committed transaction (or block) needs, on
one core, measured for ``seconds`` just before or after the run:

    ed25519 verifies/s      node/crypto.py ``verify_signature`` (one per tx)
    synced batches/s        RocksDB WriteBatch of ``SYNCED_BATCH_RECORDS`` records
                            with sync on (one per block: the commit's fsync)
    wasmtime calls/s        a no-op export through wasmtime-py's public call
                            wrapper (at least one Wasm call per tx)
    VM no-op calls/s        the same through our VM (vm/runtime.py: metering,
                            overlay, outcome)

``fractions`` puts the end-to-end committed TPS beside each: e.g. 0.25 of the
verify rate means signature checks alone would allow 4x the throughput.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import wasmtime

from zonechain.node.crypto import PrivateKey, verify_signature
from zonechain.vm.runtime import CallContext, VirtualMachine
from zonechain.vm.state import DictState

SYNCED_BATCH_RECORDS: Final = 100
"""Records per synced batch: the fsync dominates, so the size matters little."""
BATCH_ROUND: Final = 50
"""Operations between clock reads, so reading the clock costs nothing measurable."""
NOOP_WAT: Final = '(module (memory (export "memory") 1) (func (export "noop")))'


def rate(operation: Callable[[], object], seconds: float, round_size: int = BATCH_ROUND,
         ) -> float:
    """Operations per second, run in rounds until ``seconds`` have passed (at least one)."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(round_size):
            operation()
        count += round_size
        if time.perf_counter() >= deadline:
            break
    return count / (time.perf_counter() - start)


def verify_rate(seconds: float) -> float:
    key = PrivateKey.from_seed(b"\x05" * 32)
    message = b"m" * 200
    signature = key.sign(message)
    return rate(lambda: verify_signature(key.public_key, message, signature), seconds)


def synced_batch_rate(seconds: float) -> float:
    from rocksdict import Options, Rdict, WriteBatch, WriteOptions

    with tempfile.TemporaryDirectory(prefix="bench-rocksdb-") as directory:
        database = Rdict(str(Path(directory) / "db"), Options(raw_mode=True))
        options = WriteOptions()
        options.sync = True
        counter = iter(range(1 << 62))

        def write() -> None:
            batch = WriteBatch(raw_mode=True)
            base = next(counter) * SYNCED_BATCH_RECORDS
            for index in range(SYNCED_BATCH_RECORDS):
                batch.put((base + index).to_bytes(32, "big"), b"v" * 64)
            database.write(batch, options)

        try:
            return rate(write, seconds, round_size=5)
        finally:
            database.close()


def wasmtime_call_rate(seconds: float) -> float:
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, NOOP_WAT), [])
    noop = instance.exports(store)["noop"]
    assert isinstance(noop, wasmtime.Func)
    return rate(lambda: noop(store), seconds)


def vm_noop_rate(seconds: float) -> float:
    vm = VirtualMachine()
    contract = b"\xc1" * 20
    context = CallContext(b"\x0a" * 20, b"\x0a" * 20, contract, "bench", 1, 0, bytes(32))
    state = DictState()
    state.apply(vm.deploy(bytes(wasmtime.wat2wasm(NOOP_WAT)), b"", context, state,
                          10_000_000).writes)
    return rate(lambda: vm.call("noop", b"", context, state, 1_000_000), seconds)


def measure(seconds: float) -> dict[str, float]:
    return {
        "ed25519_verifies_per_s": verify_rate(seconds),
        "rocksdb_synced_batches_per_s": synced_batch_rate(seconds),
        "wasmtime_calls_per_s": wasmtime_call_rate(seconds),
        "vm_noop_calls_per_s": vm_noop_rate(seconds),
    }


def fractions(committed_tps: float, mean_block_txs: float, limits: dict[str, float],
              ) -> dict[str, float]:
    """The end-to-end TPS as a fraction of what each limit alone would allow."""
    allowed = {
        "ed25519_verifies_per_s": limits["ed25519_verifies_per_s"],
        "rocksdb_synced_batches_per_s":
            limits["rocksdb_synced_batches_per_s"] * max(mean_block_txs, 1.0),
        "wasmtime_calls_per_s": limits["wasmtime_calls_per_s"],
        "vm_noop_calls_per_s": limits["vm_noop_calls_per_s"],
    }
    return {name: committed_tps / value if value > 0 else 0.0 for name, value in allowed.items()}
