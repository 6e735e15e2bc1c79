"""Shared helpers of the type modules: field checks and the strict decode wrapper.

Field checks raise ``MalformedMessage(field, reason)``. ``decode_message``
refuses oversized input, runs a reader function and turns any
``MalformedMessage`` raised by a constructor into a ``DecodeError`` naming the
field, then insists that no bytes are left over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.limits import U32_MAX, U64_MAX
from zonechain.vm.encoding import DecodeError, Reader

T = TypeVar("T")


def check_size(field: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise MalformedMessage(field, f"must be exactly {size} bytes, got {len(value)}")


def check_max_bytes(field: str, value: bytes, limit: int) -> None:
    if len(value) > limit:
        raise MalformedMessage(field, f"{len(value)} bytes exceeds the limit of {limit}")


def check_text(field: str, value: str, limit: int, *, allow_empty: bool = False) -> None:
    """A string whose UTF-8 form is at most ``limit`` bytes (and not empty unless allowed)."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise MalformedMessage(field, "is not encodable as UTF-8") from None
    if size > limit:
        raise MalformedMessage(field, f"{size} bytes exceeds the limit of {limit}")
    if size == 0 and not allow_empty:
        raise MalformedMessage(field, "must not be empty")


def check_u64(field: str, value: int) -> None:
    if not isinstance(value, int):  # the range check alone admits 1.5
        raise MalformedMessage(field, f"must be an integer, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise MalformedMessage(field, f"{value} is outside the u64 range")


def check_u32(field: str, value: int) -> None:
    if not isinstance(value, int):
        raise MalformedMessage(field, f"must be an integer, got {type(value).__name__}")
    if not 0 <= value <= U32_MAX:
        raise MalformedMessage(field, f"{value} is outside the u32 range")


def check_count(field: str, count: int, limit: int) -> None:
    if count > limit:
        raise MalformedMessage(field, f"{count} items exceeds the limit of {limit}")


def read_bounded_list(
    reader: Reader, read_item: Callable[[Reader], T], what: str, limit: int
) -> list[T]:
    """``Reader.list``, refusing a count above ``limit`` before reading any item."""
    start = reader.offset
    count = reader.u32(what + " count")
    if count > limit:
        raise DecodeError(f"{what}: {count} items exceeds the limit of {limit}", start)
    if count > reader.remaining:
        raise DecodeError(f"{what}: {count} items cannot fit in {reader.remaining} bytes",
                          reader.offset)
    return [read_item(reader) for _ in range(count)]


def decode_message(data: bytes, what: str, limit: int, read: Callable[[Reader], T]) -> T:
    """Decode exactly one ``what`` from ``data`` with ``read``; typed errors only."""
    if len(data) > limit:
        raise MessageTooLarge(what, len(data), limit)
    reader = Reader(data)
    try:
        value = read(reader)
    except MalformedMessage as error:
        raise DecodeError(f"{what}.{error.field}: {error.reason}", reader.offset) from None
    reader.finish(what)
    return value


def from_proto_field(field: str, convert: Callable[[], T]) -> T:
    """Run ``convert`` (a nested from_proto), prefixing ``field`` to any error's path."""
    try:
        return convert()
    except MalformedMessage as error:
        raise error.within(field) from None
