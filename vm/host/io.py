"""Host functions for a call's input and output: ``input_read``, ``return_data``, ``abort``.

Guarantees: input is copied out at most ``dst_cap`` bytes at a time and its
full length is always returned, so a contract can size its buffer; return data
is bounded by ``RETURN_DATA_BYTES_MAX`` (the last call wins); an abort message
is cut to ``ABORT_MESSAGE_BYTES_MAX`` bytes on a UTF-8 boundary and invalid
UTF-8 is replaced, so the receipt text is the same on every node.
"""

from __future__ import annotations

from zonechain.vm import gas, limits
from zonechain.vm.host.frame import Frame, charge, check_range, read, write
from zonechain.vm.traps import Aborted, LimitExceeded


def input_read(frame: Frame, dst_ptr: int, dst_cap: int) -> int:
    # VALIDATE
    data = frame.input
    count = min(len(data), dst_cap)
    check_range(frame, dst_ptr, count)
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE + gas.GAS_PER_BYTE_COPIED * count)
    # OPERATION
    write(frame, dst_ptr, data[:count] if count < len(data) else data)
    # RESULT
    return len(data)


def return_data(frame: Frame, ptr: int, length: int) -> None:
    # VALIDATE
    if length > limits.RETURN_DATA_BYTES_MAX:
        raise LimitExceeded(
            "return_data_too_large",
            f"return data is limited to {limits.RETURN_DATA_BYTES_MAX} bytes",
        )
    check_range(frame, ptr, length)
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE + gas.GAS_PER_BYTE_COPIED * length)
    # OPERATION
    frame.return_data = read(frame, ptr, length)
    # RESULT: none


def abort(frame: Frame, msg_ptr: int, msg_len: int) -> None:
    # VALIDATE
    length = min(msg_len, limits.ABORT_MESSAGE_BYTES_MAX)
    check_range(frame, msg_ptr, length)
    # GAS
    charge(frame, gas.GAS_HOST_CALL_BASE + gas.GAS_PER_BYTE_COPIED * length)
    # OPERATION
    raw = read(frame, msg_ptr, length)
    message = _decode_cut(raw) if length < msg_len else raw.decode("utf-8", errors="replace")
    # RESULT
    raise Aborted(message)


UTF8_SEQUENCE_BYTES_MAX = 4


def _decode_cut(raw: bytes) -> str:
    """Decode a message cut at a byte limit: drop a sequence the cut split in two."""
    for dropped in range(UTF8_SEQUENCE_BYTES_MAX):
        try:
            return raw[: len(raw) - dropped].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")
