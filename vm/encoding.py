"""The one canonical binary encoding: for contract arguments and results, and
for everything the protocol hashes or signs.

Every value has exactly one encoding, so equal values give equal bytes on any
machine and in any language (Python, Zig, C):

    u8 u16 u32 u64 u128   fixed width, unsigned, little-endian
    i32 i64               fixed width, two's complement, little-endian
    bool                  one byte: 0x00 false, 0x01 true (anything else is an error)
    fixed(n)              exactly n raw bytes (addresses: 20, hashes: 32)
    bytes                 u32 length, then the bytes
    string                as bytes, and the bytes must be valid UTF-8
    list<T>               u32 count, then each item
    optional<T>           u8 0x00 absent | 0x01 then T

Decoding is strict: a value out of range, a bad bool or tag, invalid UTF-8, a
length running past the end, or bytes left over after the last field, raise
``DecodeError`` naming the field and offset. Nothing else escapes a decoder.

Determinism: no floats, no maps (a map is a list of pairs sorted by key, and
the encoder of such a type sorts and rejects duplicates).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

T = TypeVar("T")

LENGTH_MAX: Final = 16 * 1024 * 1024
"""No single byte string or list in any message is longer than 16 MiB; a
larger declared length is refused before anything is allocated."""

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")

U128_MAX: Final = (1 << 128) - 1


class EncodeError(ValueError):
    """A value that cannot be encoded (out of range, wrong size, bad text)."""


class DecodeError(ValueError):
    """Bytes that are not a valid encoding. ``offset`` is where reading failed."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


def _check_int(value: object, kind: str) -> None:
    """Range checks alone admit 1.5 (struct then fails with its own error)."""
    if not isinstance(value, int):
        raise EncodeError(f"{kind} must be an integer, got {type(value).__name__}")


class Writer:
    """Appends canonical encodings to a buffer; ``bytes()`` gives the result."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def __bytes__(self) -> bytes:
        return b"".join(self._parts)

    def u8(self, value: int) -> Writer:
        _check_int(value, "u8")
        if not 0 <= value <= 0xFF:
            raise EncodeError(f"u8 out of range: {value}")
        self._parts.append(bytes((value,)))
        return self

    def u16(self, value: int) -> Writer:
        _check_int(value, "u16")
        if not 0 <= value <= 0xFFFF:
            raise EncodeError(f"u16 out of range: {value}")
        self._parts.append(_U16.pack(value))
        return self

    def u32(self, value: int) -> Writer:
        _check_int(value, "u32")
        if not 0 <= value <= 0xFFFF_FFFF:
            raise EncodeError(f"u32 out of range: {value}")
        self._parts.append(_U32.pack(value))
        return self

    def u64(self, value: int) -> Writer:
        _check_int(value, "u64")
        if not 0 <= value <= 0xFFFF_FFFF_FFFF_FFFF:
            raise EncodeError(f"u64 out of range: {value}")
        self._parts.append(_U64.pack(value))
        return self

    def u128(self, value: int) -> Writer:
        _check_int(value, "u128")
        if not 0 <= value <= U128_MAX:
            raise EncodeError(f"u128 out of range: {value}")
        self._parts.append(value.to_bytes(16, "little"))
        return self

    def i32(self, value: int) -> Writer:
        _check_int(value, "i32")
        if not -(1 << 31) <= value < (1 << 31):
            raise EncodeError(f"i32 out of range: {value}")
        self._parts.append(_I32.pack(value))
        return self

    def i64(self, value: int) -> Writer:
        _check_int(value, "i64")
        if not -(1 << 63) <= value < (1 << 63):
            raise EncodeError(f"i64 out of range: {value}")
        self._parts.append(_I64.pack(value))
        return self

    def bool(self, value: bool) -> Writer:
        self._parts.append(b"\x01" if value else b"\x00")
        return self

    def fixed(self, value: bytes, size: int) -> Writer:
        if len(value) != size:
            raise EncodeError(f"expected exactly {size} bytes, got {len(value)}")
        self._parts.append(bytes(value))
        return self

    def bytes(self, value: bytes) -> Writer:
        if len(value) > LENGTH_MAX:
            raise EncodeError(f"byte string of {len(value)} bytes exceeds {LENGTH_MAX}")
        self._parts.append(_U32.pack(len(value)))
        self._parts.append(bytes(value))
        return self

    def string(self, value: str) -> Writer:
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise EncodeError(f"string is not encodable as UTF-8: {error.reason}") from None
        return self.bytes(encoded)

    def list(self, items: Sequence[T], write_item: Callable[[Writer, T], object]) -> Writer:
        if len(items) > LENGTH_MAX:
            raise EncodeError(f"list of {len(items)} items exceeds {LENGTH_MAX}")
        self._parts.append(_U32.pack(len(items)))
        for item in items:
            write_item(self, item)
        return self

    def optional(self, value: T | None, write_value: Callable[[Writer, T], object]) -> Writer:
        if value is None:
            self._parts.append(b"\x00")
        else:
            self._parts.append(b"\x01")
            write_value(self, value)
        return self


class Reader:
    """Reads canonical encodings from ``data``; call ``finish()`` after the last field."""

    __slots__ = ("_data", "_offset")

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._offset = 0

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def _take(self, size: int, what: str) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise DecodeError(
                f"{what}: needs {size} bytes, only {len(self._data) - self._offset} left",
                self._offset,
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def u8(self, what: str = "u8") -> int:
        return self._take(1, what)[0]

    def u16(self, what: str = "u16") -> int:
        value: int = _U16.unpack(self._take(2, what))[0]
        return value

    def u32(self, what: str = "u32") -> int:
        value: int = _U32.unpack(self._take(4, what))[0]
        return value

    def u64(self, what: str = "u64") -> int:
        value: int = _U64.unpack(self._take(8, what))[0]
        return value

    def u128(self, what: str = "u128") -> int:
        return int.from_bytes(self._take(16, what), "little")

    def i32(self, what: str = "i32") -> int:
        value: int = _I32.unpack(self._take(4, what))[0]
        return value

    def i64(self, what: str = "i64") -> int:
        value: int = _I64.unpack(self._take(8, what))[0]
        return value

    def bool(self, what: str = "bool") -> bool:
        start = self._offset
        byte = self.u8(what)
        if byte > 1:
            raise DecodeError(f"{what}: bool must be 0 or 1, got {byte}", start)
        return byte == 1

    def fixed(self, size: int, what: str = "fixed bytes") -> bytes:
        return self._take(size, what)

    def _length(self, what: str) -> int:
        start = self._offset
        length = self.u32(what + " length")
        if length > LENGTH_MAX:
            raise DecodeError(f"{what}: length {length} exceeds {LENGTH_MAX}", start)
        return length

    def bytes(self, what: str = "bytes") -> bytes:
        return self._take(self._length(what), what)

    def string(self, what: str = "string") -> str:
        start = self._offset
        raw = self.bytes(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"{what}: not valid UTF-8", start) from None

    def list(self, read_item: Callable[[Reader], T], what: str = "list") -> list[T]:
        count = self._length(what)
        # Each item takes at least one byte: refuse counts the data cannot hold
        # before looping (a 4-byte header must not make us spin 16M times).
        if count > self.remaining:
            raise DecodeError(f"{what}: {count} items cannot fit in {self.remaining} bytes",
                              self._offset)
        return [read_item(self) for _ in range(count)]

    def optional(self, read_value: Callable[[Reader], T], what: str = "optional") -> T | None:
        start = self._offset
        tag = self.u8(what + " tag")
        if tag == 0:
            return None
        if tag == 1:
            return read_value(self)
        raise DecodeError(f"{what}: optional tag must be 0 or 1, got {tag}", start)

    def finish(self, what: str = "message") -> None:
        if self._offset != len(self._data):
            raise DecodeError(
                f"{what}: {len(self._data) - self._offset} unexpected trailing bytes", self._offset
            )
