"""`zonechain demo` — the README's main job.

Until the multi-validator devnet exists this runs the VM demo: a small
counter contract is compiled with the deterministic engine configuration and
called under a fuel meter, showing gas used and that an out-of-gas call is
stopped at exactly its limit.
"""

from __future__ import annotations

import argparse
from typing import Any

import wasmtime
from rich.console import Console
from rich.table import Table

COUNTER_WAT = """
(module
  (global $count (mut i64) (i64.const 0))
  (func (export "increment") (result i64)
    (global.set $count (i64.add (global.get $count) (i64.const 1)))
    (global.get $count))
  (func (export "spin") (loop $forever (br $forever))))
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run the platform demo (the README's main job)")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    console = Console()
    config = wasmtime.Config()
    config.consume_fuel = True
    config.cranelift_nan_canonicalization = True
    engine = wasmtime.Engine(config)
    module = wasmtime.Module(engine, COUNTER_WAT)
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, module, [])
    exports = instance.exports(store)
    increment = exports["increment"]
    spin = exports["spin"]
    assert isinstance(increment, wasmtime.Func) and isinstance(spin, wasmtime.Func)

    table = Table(title="zonechain VM demo: metered counter contract")
    table.add_column("call")
    table.add_column("result")
    table.add_column("gas used", justify="right")
    for _ in range(3):
        store.set_fuel(10_000)
        value = increment(store)
        table.add_row("increment()", str(value), str(10_000 - store.get_fuel()))
    store.set_fuel(50_000)
    try:
        spin(store)
        outcome = "returned (unexpected)"
    except wasmtime.Trap as trap:
        outcome = "out of gas" if trap.trap_code == wasmtime.TrapCode.OUT_OF_FUEL else str(trap)
    table.add_row("spin()", outcome, str(50_000 - store.get_fuel()))
    console.print(table)
    return 0
