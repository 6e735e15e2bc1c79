"""The instance reset after each call restores memory byte for byte, and it is cheap.

The reset zeroes memory and copies back only the image's non-zero pages
(vm/runtime.py ``_nonzero_runs``); these tests hold it to the plain rule "the
memory after a call equals the memory right after instantiation", for data
segments on and across page boundaries, after a call that overwrites every
byte, after traps and out-of-gas.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vm.runtime_support import call, deploy, error_code, imports
from zonechain.vm.runtime import VirtualMachine, _LiveInstance, _nonzero_runs
from zonechain.vm.state import DictState

PAGES = 3
PAGE_BYTES = 65536

SCRIBBLE_WAT = f"""
(module
  {imports("return_data")}
  (memory (export "memory") {PAGES})
  (data (i32.const 0) "\\01start")
  (data (i32.const 4094) "\\02\\03straddles a 4 KiB boundary")
  (data (i32.const 70000) "in the second wasm page")
  (data (i32.const {PAGES * PAGE_BYTES - 3}) "end")
  ;; overwrite every byte of memory, then return the first 8
  (func (export "scribble")
    (memory.fill (i32.const 0) (i32.const 171) (i32.const {PAGES * PAGE_BYTES}))
    (call $return_data (i32.const 0) (i32.const 8)))
  ;; overwrite every byte, then trap
  (func (export "scribble_and_trap")
    (memory.fill (i32.const 0) (i32.const 205) (i32.const {PAGES * PAGE_BYTES}))
    unreachable)
  ;; overwrite bytes until the gas runs out
  (func (export "scribble_forever") (local $at i32)
    (loop $again
      (i32.store8 (local.get $at) (i32.const 239))
      (local.set $at (i32.rem_u (i32.add (local.get $at) (i32.const 4093))
                                (i32.const {PAGES * PAGE_BYTES})))
      (br $again)))
  (func (export "first_bytes")
    (call $return_data (i32.const 0) (i32.const 8))))
"""


def _instances(vm: VirtualMachine) -> list[_LiveInstance]:
    return [instance for loaded in vm._loaded.values() for instance in loaded.idle]


def test_memory_after_each_call_equals_a_fresh_instance() -> None:
    vm = VirtualMachine()
    state = DictState()
    assert deploy(vm, state, SCRIBBLE_WAT).ok
    fresh = call(vm, state, "first_bytes")
    assert fresh.ok and fresh.return_data == b"\x01start\x00\x00"
    (instance,) = _instances(vm)
    image = instance.image
    assert len(image) == PAGES * PAGE_BYTES and instance.image_runs
    for method, expected in (("scribble", None), ("scribble_and_trap", "unreachable"),
                             ("scribble_forever", "out_of_gas")):
        outcome = call(vm, state, method, gas_limit=2_000_000)
        assert error_code(outcome) == expected
        assert _instances(vm) == [instance]  # reused, not replaced
        assert instance.view.tobytes() == image
        assert call(vm, state, "first_bytes").return_data == fresh.return_data


def test_scribble_really_overwrote_memory() -> None:
    vm = VirtualMachine()
    state = DictState()
    deploy(vm, state, SCRIBBLE_WAT)
    assert call(vm, state, "scribble").return_data == b"\xab" * 8


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=5 * 4096 + 7).flatmap(
    lambda size: st.tuples(
        st.just(size),
        st.lists(st.tuples(st.integers(0, max(size - 1, 0)), st.integers(1, 255)),
                 max_size=6 if size else 0))))
def test_zeroing_then_copying_the_runs_gives_the_image(
    case: tuple[int, list[tuple[int, int]]],
) -> None:
    size, nonzero = case
    image = bytearray(size)
    for offset, value in nonzero:
        image[offset] = value
    memory = bytearray(b"\xee" * size)
    memory[:] = bytes(size)
    runs = _nonzero_runs(bytes(image))
    for start, data in runs:
        memory[start:start + len(data)] = data
    assert memory == image
    ends = [start + len(data) for start, data in runs]
    assert all(end < start for end, (start, _) in zip(ends, runs[1:], strict=False))
