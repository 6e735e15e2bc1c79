"""VM micro-benchmarks: no-op call, token-transfer-shaped call, compile, cache-hit instantiate.

Run: ``.venv/bin/python -m zonechain.benchmarks.vm_bench [--calls N]``. Figures
go to benchmarks/RESULTS.md ("## VM"). The transfer call is the shape the
throughput goal is stated for: input read, 2 storage reads, 2 storage writes,
1 event, return data; metered, through the overlay, outcome built, writes
applied to a dict state as the ledger would.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import wasmtime

from zonechain.vm.cache import ModuleCache
from zonechain.vm.engine import shared_engine
from zonechain.vm.gatekeeper import prepare
from zonechain.vm.runtime import CallContext, VirtualMachine, _LiveInstance
from zonechain.vm.state import DictState

TRANSFER_WAT = """
(module
  (import "zonechain" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "zonechain" "return_data" (func $return_data (param i32 i32)))
  (import "zonechain" "storage_read" (func $storage_read (param i32 i32 i32 i32) (result i32)))
  (import "zonechain" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "zonechain" "emit_event" (func $emit_event (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "transfer")
  (func (export "noop"))
  (func (export "transfer") (local $amount i64)
    (drop (call $input_read (i32.const 64) (i32.const 48)))
    (local.set $amount (i64.load (i32.const 104)))
    (i64.store (i32.const 128) (i64.const 0))
    (i64.store (i32.const 136) (i64.const 0))
    (drop (call $storage_read (i32.const 64) (i32.const 20) (i32.const 128) (i32.const 8)))
    (drop (call $storage_read (i32.const 84) (i32.const 20) (i32.const 136) (i32.const 8)))
    (i64.store (i32.const 128) (i64.sub (i64.load (i32.const 128)) (local.get $amount)))
    (i64.store (i32.const 136) (i64.add (i64.load (i32.const 136)) (local.get $amount)))
    (call $storage_write (i32.const 64) (i32.const 20) (i32.const 128) (i32.const 8))
    (call $storage_write (i32.const 84) (i32.const 20) (i32.const 136) (i32.const 8))
    (call $emit_event (i32.const 0) (i32.const 8) (i32.const 64) (i32.const 48))
    (call $return_data (i32.const 128) (i32.const 8))))
"""

CONTRACT = b"\xc1" * 20
SENDER = b"\x0a" * 20
RECEIVER = b"\x0b" * 20
GAS_LIMIT = 1_000_000


def per_second(count: int, action: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(count):
        action()
    return count / (time.perf_counter() - start)


def run(calls: int) -> dict[str, float]:
    code = bytes(wasmtime.wat2wasm(TRANSFER_WAT))
    vm = VirtualMachine()
    context = CallContext(caller=SENDER, origin=SENDER, contract=CONTRACT, zone="bench",
                          block_height=1, block_time_ms=0, tx_hash=bytes(32))
    state = DictState()
    state.apply(vm.deploy(code, b"", context, state, 10_000_000).writes)
    arguments = SENDER + RECEIVER + (1).to_bytes(8, "little")

    def transfer() -> None:
        outcome = vm.call("transfer", arguments, context, state, GAS_LIMIT)
        state.apply(outcome.writes)

    prepared = prepare(code)
    figures = {
        "noop calls/s": per_second(calls, lambda: vm.call("noop", b"", context, state, GAS_LIMIT)),
        "transfer calls/s": per_second(calls, transfer),
        "compile/s": per_second(
            max(calls // 500, 5), lambda: ModuleCache(shared_engine()).load(prepared)),
    }
    module = vm.cache.load(prepared)
    figures["cache-hit instantiate/s"] = per_second(
        max(calls // 50, 20), lambda: _LiveInstance(vm.engine, vm.linker, module, prepared))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    options = parser.parse_args(argv)
    for name, value in run(options.calls).items():
        print(f"{name:>26}: {value:>10,.0f}  ({1e6 / value:,.1f} µs each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
