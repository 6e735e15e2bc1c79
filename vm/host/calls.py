"""Host functions for cross-contract calls: ``call_contract`` and ``call_result_read``.

Guarantees:
- the callee gets min(requested gas, gas left) (the request is read as an
  unsigned 64-bit number, so -1 means "all I have"); what it uses is taken from
  the caller, whatever the outcome;
- the callee runs in a nested overlay: its writes and events reach the caller
  only if it succeeds; a failed callee leaves no trace and the caller continues
  with status 1 and ``"<code>: <message>"`` readable via ``call_result_read``;
- depth is bounded by ``CALL_DEPTH_MAX`` (status 1, ``call_depth_exceeded``);
- re-entrancy is refused: a contract already on the call stack cannot be
  called again (status 1, ``reentrancy``);
- a query's callees run read-only too.
"""

from __future__ import annotations

from zonechain.vm import gas, limits
from zonechain.vm.host.frame import Frame, charge, check_range, gas_left, read, set_gas_left, write
from zonechain.vm.state import ADDRESS_BYTES
from zonechain.vm.traps import LimitExceeded

STATUS_OK = 0
STATUS_FAILED = 1
U64_MASK = (1 << 64) - 1
METHOD_NAME_BYTES_MAX = 64
"""vm.abi.METHOD_NAME_PATTERN allows at most 64 bytes; longer names are never read."""


def call_contract(
    frame: Frame, address_ptr: int, method_ptr: int, method_len: int, args_ptr: int,
    args_len: int, requested_gas: int,
) -> int:
    # VALIDATE
    if args_len > limits.INPUT_BYTES_MAX:
        raise LimitExceeded(
            "input_too_large", f"call input is limited to {limits.INPUT_BYTES_MAX} bytes")
    check_range(frame, address_ptr, ADDRESS_BYTES)
    check_range(frame, method_ptr, method_len)
    check_range(frame, args_ptr, args_len)
    # GAS
    charge(frame, gas.GAS_CALL_CONTRACT_BASE + gas.GAS_PER_BYTE_COPIED * (method_len + args_len))
    # OPERATION
    if method_len > METHOD_NAME_BYTES_MAX:
        frame.last_call_result = b"method_not_found: not a callable method name"
        return STATUS_FAILED
    address = read(frame, address_ptr, ADDRESS_BYTES)
    method = read(frame, method_ptr, method_len)
    arguments = read(frame, args_ptr, args_len)
    remaining = gas_left(frame)
    forwarded = min(requested_gas & U64_MASK, remaining)
    ok, used, result = frame.executor.call_nested(frame, address, method, arguments, forwarded)
    set_gas_left(frame, remaining - used)
    frame.last_call_result = result
    # RESULT
    return STATUS_OK if ok else STATUS_FAILED


def call_result_read(frame: Frame, dst_ptr: int, dst_cap: int) -> int:
    # VALIDATE
    result = frame.last_call_result
    count = min(len(result), dst_cap)
    check_range(frame, dst_ptr, count)
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE + gas.GAS_PER_BYTE_COPIED * count)
    # OPERATION
    write(frame, dst_ptr, result[:count])
    # RESULT
    return len(result)
