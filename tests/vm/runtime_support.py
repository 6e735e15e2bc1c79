"""Shared contracts (WAT) and helpers for the VM runtime tests."""

from __future__ import annotations

import hashlib
import re

import wasmtime

from zonechain.vm import abi
from zonechain.vm.runtime import CallContext, Outcome, VirtualMachine
from zonechain.vm.state import DictState

ALICE = b"\x0a" * 20
BOB = b"\x0b" * 20
TOKEN = b"\xc1" * 20
OTHER = b"\xc2" * 20
THIRD = b"\xc3" * 20
GAS = 10_000_000


def wasm(wat: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat))


def context(contract: bytes = TOKEN, caller: bytes = ALICE, zone: str = "trade") -> CallContext:
    return CallContext(caller=caller, origin=caller, contract=contract, zone=zone,
                       block_height=7, block_time_ms=1_700_000_000_000, tx_hash=b"\x77" * 32)


def imports(*names: str) -> str:
    """WAT import declarations for the named host functions, exactly as vm.abi has them."""
    lines = []
    for name in names:
        function = abi.HOST_FUNCTIONS_BY_NAME[name]
        params = " ".join(function.params)
        results = " ".join(function.results)
        signature = (f" (param {params})" if params else "") + (
            f" (result {results})" if results else "")
        lines.append(f'(import "{abi.HOST_MODULE}" "{name}" (func ${name}{signature}))')
    return "\n  ".join(lines)


TOKEN_WAT = f"""
(module
  {imports("input_read", "return_data", "storage_read", "storage_write", "emit_event", "abort")}
  (memory (export "memory") 1)
  (data (i32.const 0) "transfer")
  (data (i32.const 16) "insufficient balance")
  ;; input at 64: from (20 bytes), to (20 bytes), amount (u64 little-endian)
  (func (export "noop"))
  (func (export "mint")
    (drop (call $input_read (i32.const 64) (i32.const 28)))
    (call $storage_write (i32.const 64) (i32.const 20) (i32.const 84) (i32.const 8)))
  (func (export "balance") (local $length i32)
    (drop (call $input_read (i32.const 64) (i32.const 20)))
    (i64.store (i32.const 128) (i64.const 0))
    (drop (call $storage_read (i32.const 64) (i32.const 20) (i32.const 128) (i32.const 8)))
    (call $return_data (i32.const 128) (i32.const 8)))
  (func (export "transfer") (local $amount i64) (local $from i64)
    (drop (call $input_read (i32.const 64) (i32.const 48)))
    (local.set $amount (i64.load (i32.const 104)))
    (if (i32.lt_s (call $storage_read (i32.const 64) (i32.const 20) (i32.const 128) (i32.const 8))
                  (i32.const 0))
      (then (i64.store (i32.const 128) (i64.const 0))))
    (if (i32.lt_s (call $storage_read (i32.const 84) (i32.const 20) (i32.const 136) (i32.const 8))
                  (i32.const 0))
      (then (i64.store (i32.const 136) (i64.const 0))))
    (local.set $from (i64.load (i32.const 128)))
    (if (i64.lt_u (local.get $from) (local.get $amount))
      (then (call $abort (i32.const 16) (i32.const 20))))
    (i64.store (i32.const 128) (i64.sub (local.get $from) (local.get $amount)))
    (i64.store (i32.const 136) (i64.add (i64.load (i32.const 136)) (local.get $amount)))
    (call $storage_write (i32.const 64) (i32.const 20) (i32.const 128) (i32.const 8))
    (call $storage_write (i32.const 84) (i32.const 20) (i32.const 136) (i32.const 8))
    (call $emit_event (i32.const 0) (i32.const 8) (i32.const 64) (i32.const 48))
    (call $return_data (i32.const 128) (i32.const 8))))
"""


def amount(value: int) -> bytes:
    return value.to_bytes(8, "little")


def transfer_args(source: bytes, target: bytes, value: int) -> bytes:
    return source + target + amount(value)


def balance_key(contract: bytes, owner: bytes) -> bytes:
    return b"s" + contract + owner


def deploy(
    vm: VirtualMachine, state: DictState, wat: str, contract: bytes = TOKEN,
    init_args: bytes = b"", gas_limit: int = GAS,
) -> Outcome:
    """Deploy and, on success, apply the writes to ``state``."""
    outcome = vm.deploy(wasm(wat), init_args, context(contract), state, gas_limit)
    if outcome.ok:
        state.apply(outcome.writes)
    return outcome


def call(
    vm: VirtualMachine, state: DictState, method: str, args: bytes = b"",
    contract: bytes = TOKEN, gas_limit: int = GAS,
) -> Outcome:
    """Call and, on success, apply the writes to ``state``."""
    outcome = vm.call(method, args, context(contract), state, gas_limit)
    if outcome.ok:
        state.apply(outcome.writes)
    return outcome


def error_code(outcome: Outcome) -> str | None:
    return None if outcome.error is None else outcome.error.code


def outcome_digest(outcomes: list[Outcome]) -> str:
    """A digest of everything consensus cares about in a list of outcomes."""
    digest = hashlib.sha256()
    for outcome in outcomes:
        digest.update(repr((
            outcome.ok, outcome.gas_used, outcome.return_data,
            [(e.contract, e.topic, e.data) for e in outcome.events],
            None if outcome.error is None else (outcome.error.code, outcome.error.message),
            sorted(outcome.writes.items(), key=lambda item: item[0]),
        )).encode())
    return digest.hexdigest()


PARAM_NAMES = re.compile(r"^\(([^)]*)\)")


def param_names(function: abi.HostFunction) -> list[str]:
    """Parameter names from the function's summary in vm.abi ("(ptr, len) ...")."""
    match = PARAM_NAMES.match(function.summary)
    if not match or not function.params:
        return []
    names = [name.strip() for name in match.group(1).split(",")]
    assert len(names) == len(function.params), function.name
    return names


def probe_wat() -> str:
    """A contract with one method per host function, ``p_<name>``: it reads the
    arguments from its input (8 bytes per parameter, little-endian) and calls
    the host function with them."""
    methods = []
    for function in abi.HOST_FUNCTIONS_V1:
        loads = []
        for index, value_type in enumerate(function.params):
            offset = 1024 + 8 * index
            loads.append(f"({value_type}.load (i32.const {offset}))")
        call_text = f"(call ${function.name} {' '.join(loads)})"
        if function.results:
            call_text = f"(drop {call_text})"
        methods.append(
            f'(func (export "p_{function.name}")\n'
            f"    (drop (call $input_read (i32.const 1024) (i32.const 64)))\n"
            f"    {call_text})")
    body = "\n  ".join(methods)
    all_imports = imports(*(f.name for f in abi.HOST_FUNCTIONS_V1))
    return f'(module\n  {all_imports}\n  (memory (export "memory") 1)\n  {body})'


def probe_args(values: list[int]) -> bytes:
    return b"".join((value & ((1 << 64) - 1)).to_bytes(8, "little") for value in values)


NAN_WAT = f"""
(module
  {imports("return_data", "input_read")}
  (memory (export "memory") 1)
  ;; NaNs made by arithmetic on the input: 0/0, sqrt(-x), inf - inf, and a
  ;; NaN with a payload pushed through an add; the bit patterns are returned.
  (func (export "nans") (local $x f64)
    (drop (call $input_read (i32.const 64) (i32.const 8)))
    (local.set $x (f64.load (i32.const 64)))
    (i64.store (i32.const 0) (i64.reinterpret_f64 (f64.div (local.get $x) (local.get $x))))
    (i64.store (i32.const 8) (i64.reinterpret_f64 (f64.sqrt (f64.neg (f64.const 1)))))
    (i64.store (i32.const 16) (i64.reinterpret_f64
      (f64.sub (f64.div (f64.const 1) (local.get $x)) (f64.div (f64.const 1) (local.get $x)))))
    (i64.store (i32.const 24) (i64.reinterpret_f64
      (f64.add (f64.reinterpret_i64 (i64.const 0xfff0000000000123)) (f64.const 1))))
    (i32.store (i32.const 32) (i32.reinterpret_f32 (f32.div (f32.demote_f64 (local.get $x))
                                                           (f32.demote_f64 (local.get $x)))))
    (call $return_data (i32.const 0) (i32.const 36))))
"""


def determinism_digest() -> str:
    """Run a fixed call sequence in a fresh VM; the digest of every outcome."""
    from zonechain.vm.runtime import VirtualMachine

    vm = VirtualMachine()
    state = DictState()
    outcomes = [deploy(vm, state, TOKEN_WAT), deploy(vm, state, NAN_WAT, contract=OTHER)]
    outcomes.append(call(vm, state, "mint", ALICE + amount(1_000)))
    for step in range(20):
        outcomes.append(call(vm, state, "transfer", transfer_args(ALICE, BOB, step * 7)))
    outcomes.append(call(vm, state, "transfer", transfer_args(BOB, ALICE, 10**9)))
    outcomes.append(call(vm, state, "transfer", transfer_args(ALICE, BOB, 1), gas_limit=3_000))
    outcomes.append(call(vm, state, "nans", bytes(8), contract=OTHER))
    digest = outcome_digest(outcomes)
    return digest + " " + hashlib.sha256(repr(sorted(state.items.items())).encode()).hexdigest()
