"""The gas schedule: every cost the VM charges, in one table.

1 gas = 1 wasmtime fuel unit. Wasm instructions are metered by wasmtime's fuel
(about one unit per instruction, shared/MEASURED.md); everything the host does
for a contract is charged from the constants below, by the host function
itself, on its first line, before any work (work whose size is only found
while doing it, the walk of ``storage_next_key`` over deleted keys, is charged
step by step, each step before it is taken). A charge larger than the gas left
ends the call with ``OutOfGas``, and then the gas used equals the limit.

The scale: one unit is roughly one nanosecond of native work. Host costs are
set from what the work costs the node (a host call crosses into Python, a
storage write grows state forever, an ed25519 verify takes ~70 µs), rounded.

Determinism: these numbers are consensus. Any change bumps
``GAS_SCHEDULE_VERSION``, which is part of the compiled-module cache key
(vm/cache.py), and needs a protocol upgrade.
"""

from __future__ import annotations

from typing import Final

GAS_SCHEDULE_VERSION: Final = 2
"""Bumped on any change below."""

# --- every host call ------------------------------------------------------------
GAS_HOST_CALL_BASE: Final = 200
"""Crossing from Wasm into the host and back (~2 µs of Python per call)."""

GAS_PER_BYTE_COPIED: Final = 1
"""Each byte moved between contract memory and the host (input, return data,
context values, results of reads)."""

# --- storage ----------------------------------------------------------------------
GAS_STORAGE_READ_BASE: Final = 1_000
"""A state lookup: the overlay, then RocksDB / the state tree."""

GAS_STORAGE_READ_PER_BYTE: Final = 2
"""Key bytes hashed into a lookup plus value bytes returned."""

GAS_STORAGE_WRITE_BASE: Final = 5_000
"""A write is buffered now and committed to the Merkle tree and disk later:
every validator stores it forever."""

GAS_STORAGE_WRITE_PER_BYTE: Final = 20
"""Per key + value byte written: state growth is the lasting cost."""

GAS_STORAGE_REMOVE: Final = 2_000
"""Removal still rewrites tree nodes, but frees space."""

GAS_STORAGE_HAS: Final = 1_000
GAS_STORAGE_NEXT_KEY_BASE: Final = 2_000
"""An ordered seek merges the overlay with the base state."""

GAS_STORAGE_NEXT_KEY_PER_SKIPPED: Final = 1_000
"""Each key a ``storage_next_key`` walk passes over because it was deleted
earlier in the block (its removal not yet committed): one step of the ordered
merge over the overlay layers. Charged before the step, so deleting N keys and
then walking them costs in proportion to N and stops when the gas does.
Measured (benchmarks/next_key_bench.py, 2026-11-28, 2 cores): a step is
0.4 µs with the usual two layers (block + transaction), ~600 gas at the rate
``GAS_STORAGE_READ_BASE`` pays for a lookup (0.7 µs); 1.6 µs (~2,300) at the
deepest nesting of calls, where a lookup through every layer is dearer too."""

GAS_STORAGE_NEXT_KEY_PER_RESEEK: Final = 2_000
"""Added for a skipped key that committed state still holds: the walk seeks
committed state again past it, a seek as ``GAS_STORAGE_NEXT_KEY_BASE`` prices
it. Measured with the step above: 1.9 µs in all, ~2,700 gas at a lookup's rate."""

# --- events -----------------------------------------------------------------------
GAS_EVENT_BASE: Final = 1_000
GAS_EVENT_PER_BYTE: Final = 10
"""Events are kept in receipts by every validator and streamed to subscribers."""

# --- memory -------------------------------------------------------------------------
GAS_MEMORY_GROW_PER_PAGE: Final = 10_000
"""A 64 KiB page is zeroed and kept for the instance's life (~10 µs)."""

# --- crypto -------------------------------------------------------------------------
GAS_HASH_BASE: Final = 300
GAS_HASH_PER_BYTE: Final = 3
"""sha256 / blake2b-256: ~1 µs per short message, ~3 ns per byte."""

GAS_ED25519_VERIFY: Final = 70_000
"""One verify with libsodium, ~70 µs on one core (shared/MEASURED.md)."""

# --- cross-contract calls -------------------------------------------------------------
GAS_CALL_CONTRACT_BASE: Final = 10_000
"""Loading the callee's metadata and code, a nested overlay, an instance reset."""

# --- deploy ---------------------------------------------------------------------------
GAS_DEPLOY_BASE: Final = 100_000
"""Gatekeeper pass, compile, metadata write."""

GAS_DEPLOY_PER_CODE_BYTE: Final = 200
"""Cranelift compile time and code storage grow with the module's size
(a 1 MiB module costs ~210 M gas)."""
