"""The canonical encoding: fixed vectors, round trips, and strict decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zonechain.vm.encoding import DecodeError, EncodeError, Reader, Writer


def test_fixed_vectors() -> None:
    encoded = bytes(
        Writer()
        .u8(7)
        .u16(0x0102)
        .u32(1)
        .u64(2)
        .u128(3)
        .i64(-1)
        .bool(True)
        .fixed(b"\xaa" * 2, 2)
        .bytes(b"hi")
        .string("é")
        .list([1, 2], lambda w, v: w.u8(v))
        .optional(None, lambda w, v: w.u8(v))
        .optional(9, lambda w, v: w.u8(v))
    )
    assert encoded.hex() == (
        "07" "0201" "01000000" "0200000000000000" "03" + "00" * 15 + "ffffffffffffffff" "01"
        "aaaa" "02000000" "6869" "02000000" "c3a9" "02000000" "0102" "00" "0109"
    )


@given(
    st.integers(0, 2**128 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.binary(max_size=64),
    st.text(max_size=16),
    st.lists(st.integers(0, 2**64 - 1), max_size=8),
    st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_round_trip(
    amount: int, signed: int, blob: bytes, text: str, items: list[int], maybe: int | None
) -> None:
    encoded = bytes(
        Writer()
        .u128(amount)
        .i64(signed)
        .bytes(blob)
        .string(text)
        .list(items, lambda w, v: w.u64(v))
        .optional(maybe, lambda w, v: w.u32(v))
    )
    reader = Reader(encoded)
    assert reader.u128() == amount
    assert reader.i64() == signed
    assert reader.bytes() == blob
    assert reader.string() == text
    assert reader.list(lambda r: r.u64()) == items
    assert reader.optional(lambda r: r.u32()) == maybe
    reader.finish()


@given(st.binary(max_size=40))
def test_arbitrary_bytes_only_raise_decode_error(data: bytes) -> None:
    reader = Reader(data)
    try:
        reader.string()
        reader.list(lambda r: r.optional(lambda r2: r2.bool()))
        reader.u128()
        reader.finish()
    except DecodeError:
        pass


@pytest.mark.parametrize(
    ("data", "read", "message"),
    [
        (b"\x02", lambda r: r.bool(), "bool must be 0 or 1"),
        (b"\x05\x00\x00\x00ab", lambda r: r.bytes(), "needs 5 bytes"),
        (b"\x02\x00\x00\x00\xff\xfe", lambda r: r.string(), "not valid UTF-8"),
        (b"\xff\xff\xff\x7f", lambda r: r.bytes(), "exceeds"),
        (b"\x00\x00\x01\x00", lambda r: r.list(lambda x: x.u8()), "cannot fit"),
        (b"\x03", lambda r: r.optional(lambda x: x.u8()), "tag must be 0 or 1"),
    ],
)
def test_malformed_input_names_the_problem(data: bytes, read: object, message: str) -> None:
    reader = Reader(data)
    with pytest.raises(DecodeError, match=message):
        read(reader)  # type: ignore[operator]


def test_trailing_bytes_rejected() -> None:
    reader = Reader(b"\x01\x02")
    reader.u8()
    with pytest.raises(DecodeError, match="1 unexpected trailing bytes"):
        reader.finish()


@pytest.mark.parametrize(
    "write",
    [
        lambda w: w.u8(256),
        lambda w: w.u64(-1),
        lambda w: w.u128(2**128),
        lambda w: w.i32(2**31),
        lambda w: w.fixed(b"abc", 20),
        lambda w: w.string("\ud800"),
    ],
)
def test_unencodable_values_rejected(write: object) -> None:
    with pytest.raises(EncodeError):
        write(Writer())  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["u8", "u16", "u32", "u64", "u128", "i32", "i64"])
def test_non_integers_are_refused_with_our_error(kind: str) -> None:
    with pytest.raises(EncodeError, match="must be an integer"):
        getattr(Writer(), kind)(1.5)
