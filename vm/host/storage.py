"""Host functions for a contract's own storage: read, write, remove, has, next_key.

Guarantees: a contract sees only its own keys (every key is prefixed with
``b"s" + contract address``, vm/state.py); writes go to the call's overlay and
reach state only if the whole call succeeds; keys and values are bounded by
``STORAGE_KEY_BYTES_MAX`` / ``STORAGE_VALUE_BYTES_MAX``; a query (read-only
call) that writes fails with ``read_only``.

``storage_next_key`` pays for the keys it passes over: a key deleted earlier in
the block (by this call, a caller, or an earlier transaction) is invisible but
still has to be stepped over, so each one costs
``GAS_STORAGE_NEXT_KEY_PER_SKIPPED``, plus ``GAS_STORAGE_NEXT_KEY_PER_RESEEK``
when committed state still holds it (the walk seeks committed state again).
Each is charged before the step it pays for, so the work of one call is
bounded by the gas left; out of gas ends the call mid-walk.

Determinism: ``storage_next_key`` walks keys in unsigned byte order through the
overlay's ordered merge, never in insertion or hash order; what it skips
depends only on the block's writes so far and committed state (vm/overlay.py).
"""

from __future__ import annotations

from zonechain.vm import gas, limits
from zonechain.vm.host.frame import (
    Frame,
    charge,
    check_range,
    gas_left,
    read,
    set_gas_left,
    write,
)
from zonechain.vm.traps import OUT_OF_GAS_MESSAGE, LimitExceeded, OutOfGas, ReadOnly

ABSENT = -1
NO_AFTER_KEY = 0xFFFF_FFFF
"""``after_len`` = -1 (as an unsigned i32): iterate from the start of the prefix."""


def _check_key_length(length: int) -> None:
    if length > limits.STORAGE_KEY_BYTES_MAX:
        raise LimitExceeded(
            "storage_key_too_large",
            f"storage keys are limited to {limits.STORAGE_KEY_BYTES_MAX} bytes",
        )


def _check_writable(frame: Frame) -> None:
    if frame.read_only:
        raise ReadOnly("a query cannot change storage")


def storage_read(frame: Frame, key_ptr: int, key_len: int, dst_ptr: int, dst_cap: int) -> int:
    # VALIDATE
    _check_key_length(key_len)
    check_range(frame, key_ptr, key_len)
    # GAS: the lookup now, the bytes it returns once they are known. Both are
    # taken from one reading of the meter, which is written once on the way out
    # (``finally``), on every path exactly as two ``charge`` calls would leave
    # it: nothing else reads or writes this store's meter during the host call.
    left = gas_left(frame) - (
        gas.GAS_STORAGE_READ_BASE + gas.GAS_STORAGE_READ_PER_BYTE * key_len)
    if left < 0:
        set_gas_left(frame, 0)
        raise OutOfGas(OUT_OF_GAS_MESSAGE)
    try:
        # OPERATION
        value = frame.overlay.get(frame.storage_prefix + read(frame, key_ptr, key_len))
        if value is None:
            return ABSENT
        count = min(len(value), dst_cap)
        check_range(frame, dst_ptr, count)
        cost = gas.GAS_STORAGE_READ_PER_BYTE * count
        if cost > left:
            left = 0
            raise OutOfGas(OUT_OF_GAS_MESSAGE)
        left -= cost
        write(frame, dst_ptr, value[:count] if count < len(value) else value)
        # RESULT
        return len(value)
    finally:
        set_gas_left(frame, left)


def storage_write(frame: Frame, key_ptr: int, key_len: int, value_ptr: int, value_len: int) -> None:
    # VALIDATE
    _check_writable(frame)
    _check_key_length(key_len)
    if value_len > limits.STORAGE_VALUE_BYTES_MAX:
        raise LimitExceeded(
            "storage_value_too_large",
            f"storage values are limited to {limits.STORAGE_VALUE_BYTES_MAX} bytes",
        )
    check_range(frame, key_ptr, key_len)
    check_range(frame, value_ptr, value_len)
    # GAS
    written_bytes = key_len + value_len
    charge(frame, gas.GAS_STORAGE_WRITE_BASE + gas.GAS_STORAGE_WRITE_PER_BYTE * written_bytes)
    # OPERATION
    key = frame.storage_prefix + read(frame, key_ptr, key_len)
    frame.overlay.put(key, read(frame, value_ptr, value_len))
    # RESULT: none


def storage_remove(frame: Frame, key_ptr: int, key_len: int) -> None:
    # VALIDATE
    _check_writable(frame)
    _check_key_length(key_len)
    check_range(frame, key_ptr, key_len)
    # GAS
    charge(frame, gas.GAS_STORAGE_REMOVE)
    # OPERATION
    frame.overlay.delete(frame.storage_prefix + read(frame, key_ptr, key_len))
    # RESULT: none


def storage_has(frame: Frame, key_ptr: int, key_len: int) -> int:
    # VALIDATE
    _check_key_length(key_len)
    check_range(frame, key_ptr, key_len)
    # GAS
    charge(frame, gas.GAS_STORAGE_HAS + gas.GAS_STORAGE_READ_PER_BYTE * key_len)
    # OPERATION
    value = frame.overlay.get(frame.storage_prefix + read(frame, key_ptr, key_len))
    # RESULT
    return 0 if value is None else 1


def _charge_skip(frame: Frame, reseek: bool) -> None:
    """The walk is about to pass over a key deleted in this block: pay before the step."""
    charge(frame, gas.GAS_STORAGE_NEXT_KEY_PER_SKIPPED
           + (gas.GAS_STORAGE_NEXT_KEY_PER_RESEEK if reseek else 0))


def storage_next_key(
    frame: Frame, prefix_ptr: int, prefix_len: int, after_ptr: int, after_len: int,
    dst_ptr: int, dst_cap: int,
) -> int:
    # VALIDATE
    _check_key_length(prefix_len)
    check_range(frame, prefix_ptr, prefix_len)
    if after_len != NO_AFTER_KEY:
        _check_key_length(after_len)
        check_range(frame, after_ptr, after_len)
    # GAS
    read_bytes = prefix_len + (0 if after_len == NO_AFTER_KEY else after_len)
    charge(frame, gas.GAS_STORAGE_NEXT_KEY_BASE + gas.GAS_STORAGE_READ_PER_BYTE * read_bytes)
    # OPERATION
    namespace = frame.storage_prefix
    prefix = namespace + read(frame, prefix_ptr, prefix_len)
    after = None if after_len == NO_AFTER_KEY else namespace + read(frame, after_ptr, after_len)
    found = frame.overlay.next_key(prefix, after, lambda reseek: _charge_skip(frame, reseek))
    if found is None:
        return ABSENT
    key = found[len(namespace):]
    count = min(len(key), dst_cap)
    check_range(frame, dst_ptr, count)
    charge(frame, gas.GAS_PER_BYTE_COPIED * count)
    write(frame, dst_ptr, key[:count])
    # RESULT
    return len(key)
