"""The host interface v1, one module per family, and the glue that exposes it to Wasm.

``IMPLEMENTATIONS`` maps every name of ``vm.abi.HOST_FUNCTIONS_V1`` (and of the
internal functions our instrumentation imports) to the Python function that
implements it. ``make_callback`` wraps one of them as a raw wasmtime host
callback: it decodes the raw argument slots into Python ints (i32 arguments as
unsigned 32-bit values, i64 as signed), runs the function for the frame on top
of the VM's call stack, and writes the result back.

Guarantees: nothing a host function raises escapes into wasmtime. It is kept
on the frame (``Frame.pending``) and the callback returns a trap, which ends
the Wasm call; the runtime then reports the kept exception: a ContractError
becomes the call's outcome, anything else is re-raised as a NodeFault.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from zonechain.vm import abi, wasm_ffi
from zonechain.vm.host import calls, context, crypto, events, internal, io, storage
from zonechain.vm.host.frame import Frame

HostImplementation = Callable[..., Any]

IMPLEMENTATIONS: Final[dict[str, HostImplementation]] = {
    "input_read": io.input_read,
    "return_data": io.return_data,
    "abort": io.abort,
    "storage_read": storage.storage_read,
    "storage_write": storage.storage_write,
    "storage_remove": storage.storage_remove,
    "storage_has": storage.storage_has,
    "storage_next_key": storage.storage_next_key,
    "emit_event": events.emit_event,
    "caller": context.caller,
    "origin": context.origin,
    "self_address": context.self_address,
    "zone": context.zone,
    "block_height": context.block_height,
    "block_time_ms": context.block_time_ms,
    "tx_hash": context.tx_hash,
    "gas_left": context.gas_left_host,
    "call_contract": calls.call_contract,
    "call_result_read": calls.call_result_read,
    "sha256": crypto.sha256,
    "blake2b256": crypto.blake2b256,
    "ed25519_verify": crypto.ed25519_verify,
}
"""Host interface v1: exactly the names of ``abi.HOST_FUNCTIONS_V1``."""

INTERNAL_FUNCTIONS: Final[tuple[abi.HostFunction, ...]] = (
    abi.HostFunction("memory_grow", ("i32",), ("i32",), "internal",
                     "(delta_pages) -> old page count, or -1; replaces memory.grow"),
    abi.HostFunction("stack_exceeded", (), (), "internal",
                     "the deterministic stack budget is exhausted"),
)
INTERNAL_IMPLEMENTATIONS: Final[dict[str, HostImplementation]] = {
    "memory_grow": internal.memory_grow,
    "stack_exceeded": internal.stack_exceeded,
}

_TRAP_MESSAGE: Final = b"zonechain host function failed"
_SLOT_FORMAT: Final = {"i32": "I12x", "i64": "q8x"}
"""Each raw slot is 16 bytes; i32 arguments are read unsigned (pointers, lengths)."""

_trap_new = wasm_ffi.trap_new
_RESULT_FORMAT: Final = {"i32": ("<I", 0xFFFF_FFFF), "i64": ("<Q", 0xFFFF_FFFF_FFFF_FFFF)}
"""A result is stored as its low 32 / 64 bits (two's complement), as a C store would."""


def make_callback(
    function: abi.HostFunction, implementation: HostImplementation, frames: list[Frame]
) -> Any:
    """A raw wasmtime callback running ``implementation`` for ``frames[-1]``.

    The raw slots are read and written in place through ``wasm_ffi.PROCESS_MEMORY``
    (``unpack_from`` / ``pack_into`` at the slots' address): no ctypes call and no
    intermediate bytes object per host call.
    """
    unpack = struct.Struct(
        "<" + "".join(_SLOT_FORMAT[t] for t in function.params)).unpack_from
    process = wasm_ffi.PROCESS_MEMORY
    trap_new = _trap_new
    # The frame already holds its store's context: in wasmtime 50's C API
    # wasmtime_caller_context(caller) returns that same pointer (checked by
    # tests/vm/test_host_abi_doc.py), so one C call per host call is saved.
    if not function.params and not function.results:
        # No slots at all: wasmtime may pass a NULL (None) address.
        def callback_without_slots(_env: int, _caller: int, _raw: int, _count: int) -> int:
            frame = frames[-1]
            try:
                implementation(frame)
                return 0
            except BaseException as error:  # kept and re-raised by the runtime, never lost
                frame.pending = error
                return int(trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE)))

        return wasm_ffi.UncheckedCallback(callback_without_slots)

    if not function.results:
        def callback(_env: int, _caller: int, raw: int, _count: int) -> int:
            frame = frames[-1]
            try:
                implementation(frame, *unpack(process, raw))
                return 0
            except BaseException as error:  # kept and re-raised by the runtime, never lost
                frame.pending = error
                return int(trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE)))

        return wasm_ffi.UncheckedCallback(callback)

    result_format, mask = _RESULT_FORMAT[function.results[0]]
    pack = struct.Struct(result_format).pack_into

    def callback_with_result(_env: int, _caller: int, raw: int, _count: int) -> int:
        frame = frames[-1]
        try:
            pack(process, raw, implementation(frame, *unpack(process, raw)) & mask)
            return 0
        except BaseException as error:  # kept and re-raised by the runtime, never lost
            frame.pending = error
            return int(trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE)))

    return wasm_ffi.UncheckedCallback(callback_with_result)
