"""``storage_next_key`` pays for every deleted key it passes over (vm/gas.py).

A contract that deletes many keys and then walks them does work in proportion
to the deleted keys on every call: each step is charged before it is taken, so
a hostile loop runs out of gas after a bounded number of steps, and a block
containing it gets the same receipts in two separate processes.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vm.runtime_support import GAS, call, context, deploy, error_code, imports
from zonechain.vm import gas, overlay
from zonechain.vm.overlay import Overlay
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

ROOT = Path(__file__).resolve().parents[2]
WALKER = b"\xc4" * 20
KEYS = 200
SCAN_GAS = 3_000_000
SLACK_INSTRUCTIONS = 40
"""Fuel of the few Wasm instructions around one extra host call."""

WALKER_WAT = f"""
(module
  {imports("input_read", "storage_write", "storage_remove", "storage_next_key")}
  (memory (export "memory") 1)
  ;; key i at 0 (4 bytes), its value at 16, a found key at 32, the input at 64
  (func $count (result i32)
    (drop (call $input_read (i32.const 64) (i32.const 4)))
    (i32.load (i32.const 64)))
  (func $each (param $n i32) (param $remove i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.const 0) (local.get $i))
      (if (local.get $remove)
        (then (call $storage_remove (i32.const 0) (i32.const 4)))
        (else (call $storage_write (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func $first (result i32)
    (call $storage_next_key (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1)
                            (i32.const 32) (i32.const 8)))
  (func $scan (loop $forever (drop (call $first)) (br $forever)))
  (func (export "fill") (call $each (call $count) (i32.const 0)))
  (func (export "wipe") (call $each (call $count) (i32.const 1)))
  (func (export "wipe_then_first") (call $each (call $count) (i32.const 1)) (drop (call $first)))
  (func (export "fill_wipe") (local $n i32)
    (local.set $n (call $count))
    (call $each (local.get $n) (i32.const 0)) (call $each (local.get $n) (i32.const 1)))
  (func (export "fill_wipe_then_first") (local $n i32)
    (local.set $n (call $count))
    (call $each (local.get $n) (i32.const 0)) (call $each (local.get $n) (i32.const 1))
    (drop (call $first)))
  (func (export "scan") (call $scan))
  (func (export "wipe_then_scan") (call $each (call $count) (i32.const 1)) (call $scan))
  ;; delete every key while walking, passing the last key as `after`
  (func (export "drain") (local $length i32)
    (local.set $length (i32.const -1))
    (block $done (loop $next
      (local.set $length (call $storage_next_key (i32.const 0) (i32.const 0)
                            (i32.const 32) (local.get $length) (i32.const 32) (i32.const 8)))
      (br_if $done (i32.eq (local.get $length) (i32.const -1)))
      (call $storage_remove (i32.const 32) (local.get $length))
      (br $next)))))
"""


def count(value: int) -> bytes:
    return value.to_bytes(4, "little")


class CountingState(DictState):
    """A DictState that counts the seeks made into it."""

    def __init__(self) -> None:
        super().__init__()
        self.seeks = 0

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        self.seeks += 1
        return super().next_key(prefix, after)


def filled(vm: VirtualMachine, keys: int = KEYS) -> CountingState:
    state = CountingState()
    assert deploy(vm, state, WALKER_WAT, contract=WALKER).ok
    assert call(vm, state, "fill", count(keys), contract=WALKER).ok
    state.seeks = 0
    return state


@pytest.fixture(scope="module")
def vm() -> VirtualMachine:
    return VirtualMachine()


@pytest.fixture
def merge_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many candidates ``Overlay.next_key`` examined (one visibility check each)."""
    steps = [0]
    visible_in = overlay._visible_in

    def counted(layers: list[Overlay], key: bytes) -> bool:
        steps[0] += 1
        return visible_in(layers, key)

    monkeypatch.setattr(overlay, "_visible_in", counted)
    yield steps


def extra_gas(vm: VirtualMachine, state: DictState, method: str, keys: int) -> int:
    """Gas of ``method``_then_first over ``method``: what the one next_key call cost."""
    without = vm.call(method, count(keys), context(WALKER), state, GAS)
    with_first = vm.call(f"{method}_then_first", count(keys), context(WALKER), state, GAS)
    assert without.ok and with_first.ok
    return with_first.gas_used - without.gas_used


def test_each_key_deleted_in_committed_state_costs_a_skip_and_a_seek(
        vm: VirtualMachine) -> None:
    state = filled(vm)
    host = (gas.GAS_STORAGE_NEXT_KEY_BASE
            + KEYS * (gas.GAS_STORAGE_NEXT_KEY_PER_SKIPPED + gas.GAS_STORAGE_NEXT_KEY_PER_RESEEK))
    assert 0 < extra_gas(vm, state, "wipe", KEYS) - host < SLACK_INSTRUCTIONS


def test_each_key_deleted_only_in_the_overlay_costs_a_skip(vm: VirtualMachine) -> None:
    state = CountingState()
    assert deploy(vm, state, WALKER_WAT, contract=WALKER).ok
    host = gas.GAS_STORAGE_NEXT_KEY_BASE + KEYS * gas.GAS_STORAGE_NEXT_KEY_PER_SKIPPED
    assert 0 < extra_gas(vm, state, "fill_wipe", KEYS) - host < SLACK_INSTRUCTIONS


def test_walking_with_after_skips_nothing(vm: VirtualMachine) -> None:
    state = filled(vm)
    outcome = call(vm, state, "drain", contract=WALKER)
    assert outcome.ok and state.next_key(b"s" + WALKER, None) is None
    per_key = (gas.GAS_STORAGE_NEXT_KEY_BASE + gas.GAS_STORAGE_READ_PER_BYTE * 4
               + gas.GAS_PER_BYTE_COPIED * 4 + gas.GAS_STORAGE_REMOVE)
    # No skip charge: the instructions add well under one skip per key.
    assert KEYS * per_key < outcome.gas_used < KEYS * (
        per_key + gas.GAS_STORAGE_NEXT_KEY_PER_SKIPPED) + gas.GAS_STORAGE_NEXT_KEY_BASE


@pytest.mark.parametrize("method", ["wipe_then_scan", "scan_after_wipe"])
def test_hostile_scan_runs_out_of_gas_after_bounded_work(
        vm: VirtualMachine, merge_steps: list[int], method: str) -> None:
    state = filled(vm)
    overlay_state = Overlay(state)  # a block overlay: tombstones of an earlier transaction
    if method == "scan_after_wipe":
        wiped = vm.call("wipe", count(KEYS), context(WALKER), overlay_state, GAS)
        assert wiped.ok
        for key, value in wiped.writes.items():
            assert value is None
            overlay_state.delete(key)
    merge_steps[0] = state.seeks = 0
    name = "scan" if method == "scan_after_wipe" else method
    outcome = vm.call(name, count(KEYS), context(WALKER), overlay_state, SCAN_GAS)
    assert error_code(outcome) == "out_of_gas"
    assert outcome.gas_used == SCAN_GAS and outcome.writes == {}
    # Every examined candidate and every seek was paid for before it was made.
    calls_max = SCAN_GAS // gas.GAS_STORAGE_NEXT_KEY_BASE
    skips_max = SCAN_GAS // gas.GAS_STORAGE_NEXT_KEY_PER_SKIPPED
    assert merge_steps[0] <= calls_max + skips_max
    assert state.seeks <= calls_max + SCAN_GAS // gas.GAS_STORAGE_NEXT_KEY_PER_RESEEK
    # Before the per-skip charge, each 2,200-gas call examined all 200 deleted keys.
    assert merge_steps[0] < (SCAN_GAS // 2_200) * KEYS // 20


def test_a_skip_hook_that_raises_stops_the_walk() -> None:
    base = DictState({bytes([index]): b"v" for index in range(100)})
    top = Overlay(Overlay(base)).child()
    for index in range(100):
        top.delete(bytes([index]))
    seen: list[bool] = []

    def budget(reseek: bool) -> None:
        if len(seen) == 5:
            raise RuntimeError("out of budget")
        seen.append(reseek)

    with pytest.raises(RuntimeError):
        top.next_key(b"", None, budget)
    assert seen == [True] * 5


# --- the node level: a block with the hostile pattern, in two processes ----------------

def node_level_digest() -> str:
    """Receipts and writes of a block that wipes keys, then scans them, via the Executor."""
    from tests.node.fixtures.chain import CHAIN_ID, GENESIS_TIME_MS, key, signed
    from zonechain.node.crypto import VerifiedSignatureCache
    from zonechain.node.executor import BlockEnvironment, Executor
    from zonechain.node.types.transaction import CallPayload

    vm = VirtualMachine()
    state = filled(vm)
    sender = key(7)
    txs = [signed(sender, 0, CallPayload(WALKER, "wipe", count(KEYS)), gas=GAS),
           signed(sender, 1, CallPayload(WALKER, "scan", b""), gas=SCAN_GAS),
           signed(sender, 2, CallPayload(WALKER, "wipe_then_scan", count(KEYS)), gas=SCAN_GAS),
           signed(sender, 3, CallPayload(WALKER, "fill_wipe_then_first", count(KEYS)), gas=GAS)]
    executor = Executor(vm, CHAIN_ID, signature_cache=VerifiedSignatureCache())
    env = BlockEnvironment(CHAIN_ID, 1, GENESIS_TIME_MS + 1_000)
    receipts, writes, gas_used = executor.execute_transactions(env, txs, state)
    summary = [(receipt.status.name, receipt.error_code, receipt.gas_used) for receipt in receipts]
    digest = hashlib.sha256(repr((summary, sorted(writes.items()), gas_used)).encode())
    return f"{summary} {digest.hexdigest()}"


def test_node_level_receipts_of_the_hostile_block() -> None:
    summary = node_level_digest()
    assert summary.startswith(
        f"[('SUCCESS', '', {_wipe_gas()}), ('CONTRACT_ERROR', 'out_of_gas', {SCAN_GAS}), "
        f"('CONTRACT_ERROR', 'out_of_gas', {SCAN_GAS}), ('SUCCESS', '', ")


def _wipe_gas() -> int:
    vm = VirtualMachine()
    state = filled(vm)
    outcome = vm.call("wipe", count(KEYS), context(WALKER), state, GAS)
    assert outcome.ok
    return outcome.gas_used


@pytest.mark.slow
def test_node_level_consequence_is_the_same_in_two_processes() -> None:
    code = ("from tests.vm.test_runtime_next_key import node_level_digest; "
            "print(node_level_digest())")
    runs = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=True).stdout.strip()
            for _ in range(2)]
    assert runs[0] == runs[1] == node_level_digest()
