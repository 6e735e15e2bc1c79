"""Every way a contract call can fail deterministically, and how wasmtime traps map onto them.

Each class below is a ``ContractError`` with a stable ``code`` (it lands in the
receipt) and a message built only from the contract's own inputs and fixed
text: never wasmtime's wording, a traceback, an address or a timing.

    ContractError (vm/errors.py)
    ├── OutOfGas                 out_of_gas              gas used == the limit
    ├── StackOverflow            stack_overflow          deterministic stack budget
    ├── MemoryOutOfBounds        memory_out_of_bounds    a (ptr, len) outside memory
    ├── WasmTrap                 unreachable, integer_division_by_zero, ... (TRAP_CODES)
    ├── Aborted                  aborted                 the contract called ``abort``
    ├── LimitExceeded            <limit name>            a vm/limits.py run-time limit
    ├── ReadOnly                 read_only               a write during a query
    ├── MethodNotFound           method_not_found
    ├── ContractNotFound         contract_not_found
    ├── ContractExists           contract_exists         deploy to a used address
    ├── ContractFrozen           contract_frozen
    ├── InstantiationFailed      instantiation_failed    e.g. a data segment out of bounds
    └── CodeRejected             <the DeployError code>  gatekeeper or compiler refused code

``classify_trap`` maps EVERY ``wasmtime.TrapCode`` member to one of these codes,
or to ``NodeFault`` for traps our engine configuration makes impossible
(component model, GC, atomics, async, exceptions): seeing one means the engine
is not configured as we believe, so the node must stop rather than record it.
tests/vm/test_runtime_traps.py fails when a wasmtime upgrade adds a member that
nobody classified.

Determinism: trap codes are decided by the Wasm semantics (the same instruction
traps on every node); the native stack-overflow trap is the one exception, and
the instrumentation's budget (vm/instrument.py) guarantees it is reached first.
"""

from __future__ import annotations

import wasmtime

from zonechain.vm.errors import ContractError, DeployError, NodeFault


class OutOfGas(ContractError):
    code = "out_of_gas"


class StackOverflow(ContractError):
    code = "stack_overflow"


class MemoryOutOfBounds(ContractError):
    code = "memory_out_of_bounds"


class Aborted(ContractError):
    code = "aborted"


class ReadOnly(ContractError):
    code = "read_only"


class MethodNotFound(ContractError):
    code = "method_not_found"


class ContractNotFound(ContractError):
    code = "contract_not_found"


class ContractExists(ContractError):
    code = "contract_exists"


class ContractFrozen(ContractError):
    code = "contract_frozen"


class InstantiationFailed(ContractError):
    code = "instantiation_failed"


class LimitExceeded(ContractError):
    """A run-time limit of vm/limits.py was broken; ``code`` names the limit."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class WasmTrap(ContractError):
    """A Wasm instruction trapped; ``code`` is one of ``TRAP_CODES``' values."""

    def __init__(self, code: str) -> None:
        super().__init__(TRAP_MESSAGES[code])
        self.code = code


class CodeRejected(ContractError):
    """The gatekeeper (or the compiler) refused code at deploy; keeps the DeployError's code."""

    def __init__(self, error: DeployError) -> None:
        super().__init__(error.message)
        self.code = error.code


TrapCode = wasmtime.TrapCode

NODE_FAULT = "node_fault"
"""Marker in ``TRAP_CODES`` for traps our configuration cannot produce."""

TRAP_CODES: dict[wasmtime.TrapCode, str] = {
    TrapCode.STACK_OVERFLOW: "stack_overflow",
    TrapCode.MEMORY_OUT_OF_BOUNDS: "memory_out_of_bounds",
    TrapCode.TABLE_OUT_OF_BOUNDS: "table_out_of_bounds",
    TrapCode.INDIRECT_CALL_TO_NULL: "indirect_call_to_null",
    TrapCode.BAD_SIGNATURE: "bad_signature",
    TrapCode.INTEGER_OVERFLOW: "integer_overflow",
    TrapCode.INTEGER_DIVISION_BY_ZERO: "integer_division_by_zero",
    TrapCode.BAD_CONVERSION_TO_INTEGER: "bad_conversion_to_integer",
    TrapCode.UNREACHABLE: "unreachable",
    TrapCode.OUT_OF_FUEL: "out_of_gas",
    # Allocation limits of GC objects: no GC in our configuration.
    TrapCode.ALLOCATION_TOO_LARGE: NODE_FAULT,
    # Atomics need threads (off).
    TrapCode.HEAP_MISALIGNED: NODE_FAULT,
    TrapCode.ATOMIC_WAIT_NON_SHARED_MEMORY: NODE_FAULT,
    # Epoch interruption is off: fuel is our only meter.
    TrapCode.INTERRUPT: NODE_FAULT,
    # Typed function references / GC: off.
    TrapCode.NULL_REFERENCE: NODE_FAULT,
    TrapCode.ARRAY_OUT_OF_BOUNDS: NODE_FAULT,
    TrapCode.CAST_FAILURE: NODE_FAULT,
    # Stack switching and exceptions: off.
    TrapCode.UNHANDLED_TAG: NODE_FAULT,
    TrapCode.CONTINUATION_ALREADY_CONSUMED: NODE_FAULT,
    TrapCode.UNCAUGHT_EXCEPTION: NODE_FAULT,
    # Pulley interpreter: we use Cranelift.
    TrapCode.DISABLED_OPCODE: NODE_FAULT,
    # Component model (we run core modules only) and its async machinery.
    TrapCode.CANNOT_ENTER_COMPONENT: NODE_FAULT,
    TrapCode.NO_ASYNC_RESULT: NODE_FAULT,
    TrapCode.ASYNC_DEADLOCK: NODE_FAULT,
    TrapCode.CANNOT_LEAVE_COMPONENT: NODE_FAULT,
    TrapCode.CANNOT_BLOCK_SYNC_TASK: NODE_FAULT,
    TrapCode.INVALID_CHAR: NODE_FAULT,
    TrapCode.DEBUG_ASSERT_STRING_ENCODING_FINISHED: NODE_FAULT,
    TrapCode.DEBUG_ASSERT_EQUAL_CODE_UNITS: NODE_FAULT,
    TrapCode.DEBUG_ASSERT_POINTER_ALIGNED: NODE_FAULT,
    TrapCode.DEBUG_ASSERT_UPPER_BITS_UNSET: NODE_FAULT,
    TrapCode.STRING_OUT_OF_BOUNDS: NODE_FAULT,
    TrapCode.LIST_OUT_OF_BOUNDS: NODE_FAULT,
    TrapCode.INVALID_DISCRIMINANT: NODE_FAULT,
    TrapCode.UNALIGNED_POINTER: NODE_FAULT,
    TrapCode.TASK_CANCEL_NOT_CANCELLED: NODE_FAULT,
    TrapCode.TASK_CANCEL_OR_RETURN_TWICE: NODE_FAULT,
    TrapCode.SUBTASK_CANCEL_AFTER_TERMINAL: NODE_FAULT,
    TrapCode.TASK_RETURN_INVALID: NODE_FAULT,
    TrapCode.WAITABLE_SET_DROP_HAS_WAITERS: NODE_FAULT,
    TrapCode.SUBTASK_DROP_NOT_RESOLVED: NODE_FAULT,
    TrapCode.THREAD_NEW_INDIRECT_INVALID_TYPE: NODE_FAULT,
    TrapCode.THREAD_NEW_INDIRECT_UNINITIALIZED: NODE_FAULT,
    TrapCode.BACKPRESSURE_OVERFLOW: NODE_FAULT,
    TrapCode.UNSUPPORTED_CALLBACK_CODE: NODE_FAULT,
    TrapCode.CANNOT_RESUME_THREAD: NODE_FAULT,
    TrapCode.CONCURRENT_FUTURE_STREAM_OP: NODE_FAULT,
    TrapCode.REFERENCE_COUNT_OVERFLOW: NODE_FAULT,
    TrapCode.STREAM_OP_TOO_BIG: NODE_FAULT,
    TrapCode.WAITABLE_SYNC_AND_ASYNC: NODE_FAULT,
}

TRAP_MESSAGES: dict[str, str] = {
    "memory_out_of_bounds": "wasm trap: out-of-bounds memory access",
    "table_out_of_bounds": "wasm trap: out-of-bounds table access",
    "indirect_call_to_null": "wasm trap: indirect call to a null table entry",
    "bad_signature": "wasm trap: indirect call signature mismatch",
    "integer_overflow": "wasm trap: integer overflow",
    "integer_division_by_zero": "wasm trap: integer division by zero",
    "bad_conversion_to_integer": "wasm trap: invalid conversion to integer",
    "unreachable": "wasm trap: unreachable instruction executed",
}
"""Fixed messages for plain Wasm traps (never wasmtime's own text)."""

OUT_OF_GAS_MESSAGE = "gas limit reached"
STACK_OVERFLOW_MESSAGE = "call stack exhausted"


def classify_trap(code_value: int) -> ContractError:
    """The ContractError for a wasmtime trap code value; NodeFault if it cannot happen here."""
    try:
        trap_code = TrapCode(code_value)
    except ValueError:
        raise NodeFault(f"unknown wasmtime trap code {code_value}") from None
    ours = TRAP_CODES.get(trap_code, NODE_FAULT)
    if ours == NODE_FAULT:
        raise NodeFault(f"wasmtime trap {trap_code.name} is impossible in our configuration")
    if ours == "out_of_gas":
        return OutOfGas(OUT_OF_GAS_MESSAGE)
    if ours == "stack_overflow":
        return StackOverflow(STACK_OVERFLOW_MESSAGE)
    if ours == "memory_out_of_bounds":
        return MemoryOutOfBounds(TRAP_MESSAGES[ours])
    return WasmTrap(ours)
