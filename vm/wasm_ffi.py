"""The narrow seam to wasmtime's C API used on the hot path (wasmtime-py 50.0.1, pinned).

wasmtime-py's public wrappers convert every value through Python objects
(a no-op call ~15 µs, a host callback ~15 µs; shared/MEASURED.md). The raw C
functions below take plain integers (``c_void_p``) so that a call costs a few
microseconds: we declare our own ctypes prototypes on the library wasmtime-py
already loaded (``wasmtime._bindings.dll``). These signatures are those of
wasmtime 50's ``wasmtime.h``; pyproject pins ``wasmtime==50.0.1`` because of
this module, and a version change must re-check every prototype here.

Everything else (Config, Engine, Module, Store, Linker, instantiation) goes
through the public API: it is off the hot path.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from wasmtime import _bindings

_dll: Any = _bindings.dll  # type: ignore[attr-defined]
_void_p = ctypes.c_void_p
_size_t = ctypes.c_size_t


def _prototype(name: str, restype: Any, *argtypes: Any) -> Any:
    # A fresh function pointer object, so wasmtime-py's own prototypes stay untouched.
    address = ctypes.cast(getattr(_dll, name), _void_p).value
    if address is None:
        raise ImportError(f"wasmtime's library has no {name}")
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


UncheckedCallback = ctypes.CFUNCTYPE(_size_t, _void_p, _void_p, _void_p, _size_t)
"""Host callback: (env, caller, args_and_results, count) -> wasm_trap_t* or 0."""

caller_context = _prototype("wasmtime_caller_context", _void_p, _void_p)
context_get_fuel = _prototype(
    "wasmtime_context_get_fuel", _void_p, _void_p, ctypes.POINTER(ctypes.c_uint64)
)
context_set_fuel = _prototype("wasmtime_context_set_fuel", _void_p, _void_p, ctypes.c_uint64)
func_call_unchecked = _prototype(
    "wasmtime_func_call_unchecked", _void_p, _void_p, _void_p, _void_p, _size_t, _void_p,
)
"""(context, func, args_and_results, count, wasm_trap_t** as an address) -> error or 0."""
trap_new = _prototype("wasmtime_trap_new", _void_p, ctypes.c_char_p, _size_t)
trap_code = _prototype("wasmtime_trap_code", ctypes.c_bool, _void_p, ctypes.POINTER(ctypes.c_uint8))
trap_delete = _prototype("wasm_trap_delete", None, _void_p)
error_delete = _prototype("wasmtime_error_delete", None, _void_p)
memory_data = _prototype("wasmtime_memory_data", _void_p, _void_p, _void_p)
memory_data_size = _prototype("wasmtime_memory_data_size", _size_t, _void_p, _void_p)
memory_grow = _prototype(
    "wasmtime_memory_grow", _void_p, _void_p, _void_p, ctypes.c_uint64,
    ctypes.POINTER(ctypes.c_uint64),
)
global_get = _prototype("wasmtime_global_get", None, _void_p, _void_p, _void_p)
global_set = _prototype("wasmtime_global_set", _void_p, _void_p, _void_p, _void_p)
linker_define_func_unchecked = _prototype(
    "wasmtime_linker_define_func_unchecked", _void_p, _void_p, ctypes.c_char_p, _size_t,
    ctypes.c_char_p, _size_t, _void_p, UncheckedCallback, _void_p, _void_p,
)

RAW_VALUE_BYTES = ctypes.sizeof(_bindings.wasmtime_val_raw_t)
"""Each argument/result slot of an unchecked call (16 bytes: it can hold a v128)."""

WasmtimeValue = _bindings.wasmtime_val_t
RawValues = _bindings.wasmtime_val_raw_t


PROCESS_BYTES_MAX = sys.maxsize
"""The largest ctypes array; the view below spans every address a pointer can hold."""

PROCESS_MEMORY: memoryview = memoryview(
    (ctypes.c_ubyte * PROCESS_BYTES_MAX).from_address(0)).cast("B")
"""A byte view of the whole address space, for ``struct.unpack_from`` / ``pack_into``
at an address (``offset`` = the address). Reading a host callback's raw argument
slots this way costs one C call with no allocation, where ``ctypes.string_at``
is a foreign call plus a bytes object (~0.35 µs against ~0.06 µs per host call).
Only addresses wasmtime hands us (the slots of the current host call) are used.
Never copy, compare or hash the view itself, nor slice it without both bounds:
that would read every address and crash the process."""


def address_of(pointer: Any) -> int:
    """The integer address behind a ctypes pointer or object (0 for NULL)."""
    value = ctypes.cast(pointer, _void_p).value
    return int(value or 0)
