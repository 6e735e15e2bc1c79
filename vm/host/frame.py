"""The state of one running contract call, as host functions see it, and their helpers.

A ``Frame`` exists for each contract on the call stack. Host functions receive
the frame of the contract that called them and its raw arguments as Python
ints (pointers and lengths as unsigned 32-bit values). They charge gas first
(``charge``), then move bytes through ``read`` / ``write``, which bounds-check
every (pointer, length) pair against the memory's current size and raise the
deterministic ``MemoryOutOfBounds`` rather than touching anything outside it.

Determinism: gas is kept in wasmtime's fuel counter of the frame's store, so
Wasm instructions and host charges draw from one meter; an overdraft sets the
meter to zero and raises ``OutOfGas``. Memory bounds are checked against the
size the Wasm semantics define (pages x 64 KiB), never against host memory.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zonechain.vm import wasm_ffi
from zonechain.vm.errors import NodeFault
from zonechain.vm.overlay import Overlay
from zonechain.vm.traps import OUT_OF_GAS_MESSAGE, MemoryOutOfBounds, OutOfGas

if TYPE_CHECKING:
    from zonechain.vm.runtime import VirtualMachine

_get_fuel = wasm_ffi.context_get_fuel
_set_fuel = wasm_ffi.context_set_fuel
EMPTY_MEMORY = memoryview(bytearray()).cast("B")

OUT_OF_BOUNDS_MESSAGE = "pointer and length outside the contract's memory"


@dataclass(frozen=True)
class CallContext:
    """Who is calling what, in which block: the environment of one call."""

    caller: bytes
    origin: bytes
    contract: bytes
    zone: str
    block_height: int
    block_time_ms: int
    tx_hash: bytes


@dataclass(frozen=True)
class Event:
    contract: bytes
    topic: bytes
    data: bytes


class Frame:
    """One contract call in progress."""

    __slots__ = (
        "context", "context_pointer", "events", "executor", "fuel", "input", "instance",
        "last_call_result", "memory", "memory_bytes", "overlay", "pending", "read_only",
        "return_data", "storage_prefix",
    )

    def __init__(
        self, executor: VirtualMachine, context: CallContext, overlay: Overlay, input_bytes: bytes,
        read_only: bool, storage_prefix: bytes,
    ) -> None:
        self.executor = executor
        self.context = context
        self.overlay = overlay
        self.input = input_bytes
        self.read_only = read_only
        self.storage_prefix = storage_prefix
        self.return_data = b""
        self.events: list[Event] = []
        self.last_call_result = b""
        self.context_pointer = 0
        """The wasmtime context of the frame's store (an address), set when the call starts."""
        self.memory = EMPTY_MEMORY
        """A byte view of the contract's whole linear memory (replaced when it grows)."""
        self.memory_bytes = 0
        self.instance: Any = None
        self.pending: BaseException | None = None
        """What a host function raised; the trap it caused is reported as this."""
        self.fuel: ctypes.c_uint64 = executor.fuel
        """The VM's fuel cell: a fuel read lands here (one host call runs at a time)."""


def gas_left(frame: Frame) -> int:
    """Fuel left in the frame's store."""
    fuel = frame.fuel
    if _get_fuel(frame.context_pointer, fuel):
        raise NodeFault("fuel metering is not enabled on this store")
    return int(fuel.value)


def set_gas_left(frame: Frame, amount: int) -> None:
    if _set_fuel(frame.context_pointer, amount):
        raise NodeFault("fuel metering is not enabled on this store")


def charge(frame: Frame, amount: int) -> None:
    """Take ``amount`` gas from the frame's meter, or end the call with OutOfGas."""
    fuel = frame.fuel
    context_pointer = frame.context_pointer
    if _get_fuel(context_pointer, fuel):
        raise NodeFault("fuel metering is not enabled on this store")
    remaining = fuel.value
    if amount > remaining:
        _set_fuel(context_pointer, 0)
        raise OutOfGas(OUT_OF_GAS_MESSAGE)
    if _set_fuel(context_pointer, remaining - amount):
        raise NodeFault("fuel metering is not enabled on this store")


def check_range(frame: Frame, pointer: int, length: int) -> None:
    """Raise MemoryOutOfBounds unless [pointer, pointer + length) lies in memory."""
    if pointer + length > frame.memory_bytes:
        raise MemoryOutOfBounds(OUT_OF_BOUNDS_MESSAGE)


def read(frame: Frame, pointer: int, length: int) -> bytes:
    """``length`` bytes of contract memory at ``pointer`` (both unsigned)."""
    end = pointer + length
    if end > frame.memory_bytes:
        raise MemoryOutOfBounds(OUT_OF_BOUNDS_MESSAGE)
    return frame.memory[pointer:end].tobytes()


def write(frame: Frame, pointer: int, data: bytes) -> None:
    """Copy ``data`` into contract memory at ``pointer``."""
    end = pointer + len(data)
    if end > frame.memory_bytes:
        raise MemoryOutOfBounds(OUT_OF_BOUNDS_MESSAGE)
    frame.memory[pointer:end] = data


def memory_view(base: int, size: int) -> memoryview:
    """A writable byte view of ``size`` bytes of native memory at ``base``."""
    if size == 0:
        return EMPTY_MEMORY
    return memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
