"""Host functions that read the call's environment: caller, origin, self, zone, block, tx, gas.

Guarantees: every value comes from the ``CallContext`` the executor passed in
(the block header and the transaction), never from the node's clock or
randomness, so every node sees the same values.
"""

from __future__ import annotations

from zonechain.vm import gas
from zonechain.vm.host.frame import Frame, charge, check_range, gas_left, write


def _copy_fixed(frame: Frame, dst_ptr: int, value: bytes) -> None:
    # VALIDATE
    check_range(frame, dst_ptr, len(value))
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE + gas.GAS_PER_BYTE_COPIED * len(value))
    # OPERATION
    write(frame, dst_ptr, value)


def caller(frame: Frame, dst_ptr: int) -> None:
    _copy_fixed(frame, dst_ptr, frame.context.caller)


def origin(frame: Frame, dst_ptr: int) -> None:
    _copy_fixed(frame, dst_ptr, frame.context.origin)


def self_address(frame: Frame, dst_ptr: int) -> None:
    _copy_fixed(frame, dst_ptr, frame.context.contract)


def tx_hash(frame: Frame, dst_ptr: int) -> None:
    _copy_fixed(frame, dst_ptr, frame.context.tx_hash)


def zone(frame: Frame, dst_ptr: int, dst_cap: int) -> int:
    # VALIDATE
    name = frame.context.zone.encode("utf-8")
    count = min(len(name), dst_cap)
    check_range(frame, dst_ptr, count)
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE + gas.GAS_PER_BYTE_COPIED * count)
    # OPERATION
    write(frame, dst_ptr, name[:count])
    # RESULT
    return len(name)


def block_height(frame: Frame) -> int:
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE)
    # RESULT
    return frame.context.block_height


def block_time_ms(frame: Frame) -> int:
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE)
    # RESULT
    return frame.context.block_time_ms


def gas_left_host(frame: Frame) -> int:
    """``gas_left``: the gas remaining after this call's own charge."""
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE)
    # RESULT
    return gas_left(frame)

