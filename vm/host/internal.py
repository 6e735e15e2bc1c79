"""Host functions our own instrumentation imports (module ``zonechain_internal``).

Deployed code cannot name this module (the gatekeeper refuses it); the
instrumented copy of every contract calls:
- ``memory_grow(delta) -> old pages | -1``, which replaces every
  ``memory.grow``: it charges ``GAS_MEMORY_GROW_PER_PAGE`` per page, then grows;
  growing past ``MEMORY_PAGES_MAX`` returns -1 (charging only the call);
- ``stack_exceeded()``, called when the deterministic stack budget runs out:
  the call ends with ``stack_overflow``.

Determinism: the page count is tracked by the Wasm semantics (pages, not host
bytes) and the limit is a constant, so every node answers the same.
"""

from __future__ import annotations

from zonechain.vm import gas, limits
from zonechain.vm.host.frame import Frame, charge
from zonechain.vm.traps import STACK_OVERFLOW_MESSAGE, StackOverflow

GROW_FAILED = -1
WASM_PAGE_BYTES = 65_536


def memory_grow(frame: Frame, delta_pages: int) -> int:
    # VALIDATE
    current_pages = frame.memory_bytes // WASM_PAGE_BYTES
    if current_pages + delta_pages > limits.MEMORY_PAGES_MAX:
        charge(frame, gas.GAS_HOST_CALL_BASE)
        return GROW_FAILED
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE + gas.GAS_MEMORY_GROW_PER_PAGE * delta_pages)
    # OPERATION
    frame.executor.grow_memory(frame, delta_pages)
    # RESULT
    return current_pages


def stack_exceeded(frame: Frame) -> None:
    # RESULT
    raise StackOverflow(STACK_OVERFLOW_MESSAGE)
