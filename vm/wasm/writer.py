"""Encoders for the WebAssembly binary format: integers, names, vectors, sections.

Guarantees: every encoder emits the canonical (shortest) encoding, so equal
inputs give equal bytes; values outside a type's range raise ValueError (a bug
in the caller, never a property of deployed code).

Determinism: pure functions of their arguments.
"""

from __future__ import annotations

from collections.abc import Iterable

U32_MAX = (1 << 32) - 1
S32_MIN = -(1 << 31)
S32_MAX = (1 << 31) - 1


def encode_u32(value: int) -> bytes:
    if not 0 <= value <= U32_MAX:
        raise ValueError(f"u32 out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_s32(value: int) -> bytes:
    if not S32_MIN <= value <= S32_MAX:
        raise ValueError(f"s32 out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7  # arithmetic shift keeps the sign
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        if done:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def encode_name(name: str) -> bytes:
    raw = name.encode("utf-8")
    return encode_u32(len(raw)) + raw


def encode_vector(items: Iterable[bytes]) -> bytes:
    materialised = list(items)
    return encode_u32(len(materialised)) + b"".join(materialised)


def encode_section(section_id: int, payload: bytes) -> bytes:
    return bytes((section_id,)) + encode_u32(len(payload)) + payload
