"""The one deterministic wasmtime configuration every node runs contracts with.

Guarantees: fuel metering is on (gas = fuel, vm/gas.py); NaN results of float
operations are canonicalised (so the bit pattern of a NaN is the same on every
CPU); SIMD, relaxed SIMD, threads, memory64, GC, typed function references,
tail calls, exceptions, multi-memory and wide arithmetic are off; the native
Wasm stack is bounded by ``WASM_STACK_BYTES``; wasmtime's own on-disk cache is
off (our cache, vm/cache.py, only reads back what it wrote itself).

Reference types stay enabled because wasmtime 50 refuses to build an engine
without them (its component-model-async support needs them); the gatekeeper
rejects every instruction and type they add, so no contract can use them.

``ENGINE_FINGERPRINT`` names this configuration and the wasmtime version; it is
part of the compiled-module cache key, so a serialized module is never loaded
into an engine configured differently.

Determinism: everything here is consensus. A change to a setting changes how
contracts execute and must bump the fingerprint (it does so automatically,
since the fingerprint is built from ``ENGINE_SETTINGS``).
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Final

import wasmtime

from zonechain.vm import limits

WASMTIME_VERSION: Final = importlib.metadata.version("wasmtime")
"""pyproject pins wasmtime==50.0.1; the hot path uses its private ctypes layer."""

WASMTIME_ASYNC_STACK_BYTES: Final = 2 * 1024 * 1024
"""wasmtime 50's default async stack size. ``max_wasm_stack`` may not exceed it,
or engine creation aborts the process (a Rust panic across the C API)."""

WASM_STACK_BYTES: Final = min(limits.NATIVE_WASM_STACK_BYTES, WASMTIME_ASYNC_STACK_BYTES)
"""The native Wasm stack of one entry into Wasm. vm.limits asks for 8 MiB, but
wasmtime 50 cannot go above its async stack size, so 2 MiB is used: the
deterministic budget of vm/instrument.py is designed to stop a contract even
under a quarter of NATIVE_WASM_STACK_BYTES. Each nested cross-contract call
enters a new store and may use this much again, so the thread that runs the
VM needs CALL_DEPTH_MAX x 2 MiB plus room for Python
(``VM_THREAD_STACK_BYTES``)."""

VM_THREAD_STACK_BYTES: Final = 64 * 1024 * 1024
"""Stack size for a thread that runs contracts (``threading.stack_size``):
CALL_DEPTH_MAX (8) nested entries of WASM_STACK_BYTES each, plus Python."""

ENGINE_SETTINGS: Final[tuple[tuple[str, bool | int | str], ...]] = (
    ("consume_fuel", True),
    ("cranelift_nan_canonicalization", True),
    ("cranelift_opt_level", "speed"),
    ("wasm_simd", False),
    ("wasm_relaxed_simd", False),
    ("wasm_relaxed_simd_deterministic", True),
    ("wasm_threads", False),
    ("wasm_memory64", False),
    ("wasm_gc", False),
    ("wasm_function_references", False),
    ("wasm_tail_call", False),
    ("wasm_exceptions", False),
    ("wasm_multi_memory", False),
    ("wasm_wide_arithmetic", False),
    ("wasm_custom_page_sizes", False),
    ("wasm_stack_switching", False),
    ("wasm_bulk_memory", True),
    ("wasm_multi_value", True),
    ("epoch_interruption", False),
    ("max_wasm_stack", WASM_STACK_BYTES),
)
"""Applied in this order to a fresh ``wasmtime.Config``."""

ENGINE_FINGERPRINT: Final = "wasmtime=" + WASMTIME_VERSION + ";" + ";".join(
    f"{name}={value}" for name, value in ENGINE_SETTINGS
)


def make_config() -> wasmtime.Config:
    """A fresh Config with ``ENGINE_SETTINGS`` applied (wasmtime's cache left off)."""
    config = wasmtime.Config()
    for name, value in ENGINE_SETTINGS:
        setattr(config, name, value)
    return config


@functools.cache
def shared_engine() -> wasmtime.Engine:
    """The process-wide engine: compiled modules are bound to the engine they came from."""
    return wasmtime.Engine(make_config())
