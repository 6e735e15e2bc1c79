"""Every hard limit of the VM, in one table, each with its reason.

"Put a limit on everything" (TigerBeetle). A limit that is checked at deploy is
enforced by the gatekeeper before compilation; a limit checked at run time
ends the call with a deterministic ContractError. Units go last in the name.

Determinism: these numbers are part of consensus. Changing one changes which
code deploys or which calls succeed, so it needs a protocol version bump (and
it is part of the compiled-module cache key through ``LIMITS_VERSION``).
"""

from __future__ import annotations

from typing import Final

LIMITS_VERSION: Final = 1
"""Bumped on any change below; part of the module cache key."""

# --- deploy time: the module itself -----------------------------------------
MODULE_BYTES_MAX: Final = 1024 * 1024
"""1 MiB: a zone contract is a few tens of KiB; bounds gatekeeper work,
compile time (charged at deploy) and the size of a deploy transaction."""

FUNCTIONS_MAX: Final = 10_000
"""Bounds compile time and code-cache memory (CosmWasm allows 20,000)."""

FUNCTION_BODY_BYTES_MAX: Final = 128 * 1024
"""One huge function is a compile-time bomb for Cranelift's register
allocator; real functions are far smaller."""

LOCALS_PER_FUNCTION_MAX: Final = 1024
"""Locals live in the native frame: bounding them bounds each frame's size,
which the deterministic stack budget relies on."""

PARAMS_PER_FUNCTION_MAX: Final = 64
"""Same reason as locals; also keeps the ABI's [] -> [] methods simple."""

RESULTS_PER_FUNCTION_MAX: Final = 16
"""Multi-value is allowed, but a wide result is a frame-size lever."""

TYPES_MAX: Final = 1_000
GLOBALS_MAX: Final = 256
"""Mutable globals are saved and restored around each call; keep that cheap."""

TABLE_ELEMENTS_MAX: Final = 4_096
"""Indirect calls need a table; bound its memory and init time."""

MEMORY_PAGES_INITIAL_MAX: Final = 32
"""2 MiB of memory at instantiation; more must be grown (and paid for)."""

MEMORY_PAGES_MAX: Final = 256
"""16 MiB per instance (64 KiB pages). ``memory.grow`` beyond it returns -1,
identically on every node; a declared maximum above it is rejected."""

DATA_SEGMENTS_MAX: Final = 1_024
ELEMENT_SEGMENTS_MAX: Final = 64
IMPORTS_MAX: Final = 64
"""There are fewer host functions than this; more imports means garbage."""

EXPORTS_MAX: Final = 256
"""Methods of one contract; the ABI file lists each."""

OPERAND_STACK_HEIGHT_MAX: Final = 1_024
"""Per function, computed by the gatekeeper; feeds the frame-weight model."""

# --- run time ------------------------------------------------------------------
STACK_BUDGET_UNITS: Final = 64 * 1024
"""Deterministic stack budget of one call, in frame-weight units (see
vm/instrument.py). The native Wasm stack (``NATIVE_WASM_STACK_BYTES``) is sized
so that it is never reached before this budget is exhausted."""

NATIVE_WASM_STACK_BYTES: Final = 8 * 1024 * 1024
"""wasmtime's own stack limit, set far above what the budget above allows so
that the non-deterministic native limit is never what stops a contract."""

CALL_DEPTH_MAX: Final = 8
"""Nested cross-contract calls (contract A calls B calls C ...). Each level is
a host->guest re-entry on the node's thread (CWA-2023-002 was unbounded
guest/host recursion)."""

INPUT_BYTES_MAX: Final = 128 * 1024
RETURN_DATA_BYTES_MAX: Final = 128 * 1024
"""Bounds receipts and what a caller copies back."""

STORAGE_KEY_BYTES_MAX: Final = 256
"""Contract keys are namespaced under a 21-byte prefix; keys stay short."""

STORAGE_VALUE_BYTES_MAX: Final = 64 * 1024
EVENT_TOPIC_BYTES_MAX: Final = 64
EVENT_DATA_BYTES_MAX: Final = 16 * 1024
EVENTS_PER_CALL_MAX: Final = 256
ABORT_MESSAGE_BYTES_MAX: Final = 1_024
"""Longer abort messages are truncated (deterministically, on a UTF-8 boundary)."""

ZONE_NAME_BYTES_MAX: Final = 64

# --- deterministic stack (vm/instrument.py) -----------------------------------
FRAME_WEIGHT_OVERHEAD_UNITS: Final = 16
"""Fixed part of every frame's weight (return address, saved registers, the
VM context and the two operand slots the stack meter itself uses); the rest is
params + locals + maximum operand-stack height + values the body produces, one
unit per value (the model and its measured bound: vm/instrument.py)."""
