"""A nested call's gas is charged to the caller even when the caller then fails."""

from __future__ import annotations

from tests.vm.runtime_support import GAS, OTHER, TOKEN, call, deploy, error_code, imports
from zonechain.vm import limits
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

NOISY_WAT = f"""
(module
  {imports("emit_event")}
  (memory (export "memory") 1)
  (func (export "noisy") (local $i i32)
    (loop $again
      (call $emit_event (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 8))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const {limits.EVENTS_PER_CALL_MAX}))))))
"""

OTHER_WAT_BYTES = "".join(f"\\{byte:02x}" for byte in OTHER)

# Emits one event, then calls "noisy" on OTHER: together more than the limit.
CALLER_WAT = f"""
(module
  {imports("emit_event", "call_contract")}
  (memory (export "memory") 1)
  (data (i32.const 0) "noisy")
  (data (i32.const 32) "{OTHER_WAT_BYTES}")
  (func (export "relay")
    (call $emit_event (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 8))
    (drop (call $call_contract (i32.const 32) (i32.const 0) (i32.const 5)
                               (i32.const 0) (i32.const 0) (i64.const -1)))))
"""


def test_callee_gas_is_charged_when_the_event_limit_ends_the_call() -> None:
    vm = VirtualMachine()
    state = DictState()
    assert deploy(vm, state, NOISY_WAT, contract=OTHER).ok
    assert deploy(vm, state, CALLER_WAT, contract=TOKEN).ok
    callee_alone = call(vm, state, "noisy", contract=OTHER)
    assert callee_alone.ok

    relayed = call(vm, state, "relay", contract=TOKEN)

    assert error_code(relayed) == "too_many_events"
    assert relayed.gas_used > callee_alone.gas_used
    assert relayed.gas_used < GAS
