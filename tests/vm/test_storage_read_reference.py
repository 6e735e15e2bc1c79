"""``storage_read`` (one meter reading for its two charges) against the plain two-charge form.

vm/host/storage.py reads the gas meter once and writes it once per
``storage_read``; the readable reference below charges twice with ``charge``.
Both run the same contract at every gas limit around the points where the
call runs out (before the lookup, between the lookup and the copy, after
it), with the destination in and out of bounds, a value present and absent,
and a destination smaller than the value: outcomes must be identical (ok,
gas used, error, return data).
"""

from __future__ import annotations

import pytest

from tests.vm.runtime_support import TOKEN, call, context, deploy, imports
from zonechain.vm import gas
from zonechain.vm.host import IMPLEMENTATIONS
from zonechain.vm.host.frame import Frame, charge, check_range, read, write
from zonechain.vm.host.storage import ABSENT, _check_key_length
from zonechain.vm.runtime import Outcome, VirtualMachine
from zonechain.vm.state import DictState

VALUE_BYTES = 300


def reference_storage_read(
    frame: Frame, key_ptr: int, key_len: int, dst_ptr: int, dst_cap: int,
) -> int:
    """The definition: charge for the lookup, look up, charge for the bytes, copy."""
    _check_key_length(key_len)
    check_range(frame, key_ptr, key_len)
    charge(frame, gas.GAS_STORAGE_READ_BASE + gas.GAS_STORAGE_READ_PER_BYTE * key_len)
    value = frame.overlay.get(frame.storage_prefix + read(frame, key_ptr, key_len))
    if value is None:
        return ABSENT
    count = min(len(value), dst_cap)
    check_range(frame, dst_ptr, count)
    charge(frame, gas.GAS_STORAGE_READ_PER_BYTE * count)
    write(frame, dst_ptr, value[:count] if count < len(value) else value)
    return len(value)


READER_WAT = f"""
(module
  {imports("input_read", "storage_read", "storage_write", "return_data")}
  (memory (export "memory") 1)
  (data (i32.const 0) "key-present")
  (data (i32.const 16) "key-absent!")
  (func (export "setup")
    (call $storage_write (i32.const 0) (i32.const 11) (i32.const 1024) (i32.const {VALUE_BYTES})))
  ;; input: key offset (i32), destination (i32), capacity (i32)
  (func (export "read") (local $length i32)
    (drop (call $input_read (i32.const 64) (i32.const 12)))
    (local.set $length (call $storage_read (i32.load (i32.const 64)) (i32.const 11)
                                           (i32.load (i32.const 68)) (i32.load (i32.const 72))))
    (i32.store (i32.const 80) (local.get $length))
    (call $return_data (i32.const 80) (i32.const 4))))
"""

CASES = {
    "present, fits": (0, 2048, 4096),
    "present, capacity smaller than the value": (0, 2048, 100),
    "present, destination out of bounds": (0, 65536 - 10, 4096),
    "absent": (16, 2048, 4096),
}


def _arguments(key_at: int, destination: int, capacity: int) -> bytes:
    return b"".join(value.to_bytes(4, "little") for value in (key_at, destination, capacity))


def _summary(outcome: Outcome) -> tuple[object, ...]:
    error = None if outcome.error is None else (outcome.error.code, outcome.error.message)
    return outcome.ok, outcome.gas_used, error, outcome.return_data


@pytest.fixture(scope="module")
def machines() -> tuple[VirtualMachine, VirtualMachine, DictState]:
    fast = VirtualMachine()
    patched = dict(IMPLEMENTATIONS)
    patched["storage_read"] = reference_storage_read
    original = dict(IMPLEMENTATIONS)
    IMPLEMENTATIONS.update(patched)
    try:
        reference = VirtualMachine()
    finally:
        IMPLEMENTATIONS.update(original)
    state = DictState()
    assert deploy(fast, state, READER_WAT).ok
    assert call(fast, state, "setup").ok
    return fast, reference, state


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_gas_limit_around_the_charges_gives_the_same_outcome(
    machines: tuple[VirtualMachine, VirtualMachine, DictState], case: str,
) -> None:
    fast, reference, state = machines
    arguments = _arguments(*CASES[case])
    full = fast.call("read", arguments, context(TOKEN), state, 10_000_000)
    assert _summary(full) == _summary(
        reference.call("read", arguments, context(TOKEN), state, 10_000_000))
    span = gas.GAS_STORAGE_READ_BASE + gas.GAS_STORAGE_READ_PER_BYTE * (11 + VALUE_BYTES) + 600
    outcomes = set()
    for gas_limit in range(max(full.gas_used - span, 0), full.gas_used + 3):
        fast_outcome = fast.call("read", arguments, context(TOKEN), state, gas_limit)
        reference_outcome = reference.call("read", arguments, context(TOKEN), state, gas_limit)
        assert _summary(fast_outcome) == _summary(reference_outcome), gas_limit
        outcomes.add((fast_outcome.ok, fast_outcome.error and fast_outcome.error.code))
    assert (False, "out_of_gas") in outcomes  # the scan reached the limits that run out
