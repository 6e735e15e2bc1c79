"""ABI files and the Python codec (zonechain.contracts.abi)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import TOKEN_DIR
from zonechain.contracts.abi import (
    AbiError,
    AbiType,
    decode_single,
    encode_single,
    load_abi,
    parse_abi,
    parse_type,
)

TOKEN_ABI = TOKEN_DIR / "token.abi.json"


def minimal(**method: Any) -> dict[str, Any]:
    entry = {"name": "go", "readonly": False, "params": [], "returns": None}
    entry.update(method)
    return {"abi_version": 1, "contract": "demo", "methods": [entry]}


# --- types -------------------------------------------------------------------------


def test_parse_nested_types() -> None:
    parsed = parse_type("list<optional<address>>")
    assert parsed == AbiType("list", AbiType("optional", AbiType("address")))
    assert str(parsed) == "list<optional<address>>"


@pytest.mark.parametrize("text", ["uint128", "list<>", "list<u8", "optional<map>", "", "u128 x"])
def test_unknown_types_are_refused(text: str) -> None:
    with pytest.raises(AbiError, match="unknown type"):
        parse_type(text)


def test_too_deep_nesting_is_refused() -> None:
    with pytest.raises(AbiError, match="nested deeper"):
        parse_type("list<" * 10 + "u8" + ">" * 10)


# --- loading ---------------------------------------------------------------------


def test_token_abi_loads() -> None:
    abi = load_abi(TOKEN_ABI)
    assert abi.contract == "token"
    assert abi.method("balance_of").readonly
    assert str(abi.method("transfer").params[1].type) == "u128"
    assert [field.name for field in abi.event("transfer").fields] == ["from", "to", "amount"]


def test_dumps_round_trips(tmp_path: Path) -> None:
    abi = load_abi(TOKEN_ABI)
    copy = tmp_path / "token.abi.json"
    copy.write_text(abi.dumps())
    assert load_abi(copy) == abi
    assert load_abi(copy).dumps() == abi.dumps()


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"contract": "demo", "methods": []}, "missing field 'abi_version'"),
        ({"abi_version": 2, "contract": "demo", "methods": []}, "abi_version: expected 1"),
        ({"abi_version": True, "contract": "demo", "methods": []}, "abi_version"),
        ({"abi_version": 1, "contract": "Demo", "methods": []}, "contract: 'Demo' is not a valid"),
        ({"abi_version": 1, "contract": "demo", "methods": {}}, "methods: expected a JSON array"),
        (minimal(params=[{"name": "x", "type": "uint128"}]),
         "methods[0].params[0].type: unknown type 'uint128'"),
        (minimal(params=[{"name": "x"}]), "methods[0].params[0]: missing field 'type'"),
        (minimal(params=[{"name": "x", "type": "u8"}, {"name": "x", "type": "u8"}]),
         "duplicate name 'x'"),
        (minimal(returns="float"), "methods[0].returns: unknown type 'float'"),
        (minimal(readonly="yes"), "readonly: expected true or false"),
        (minimal(retrun="u8"), "unknown field 'retrun'"),
        (minimal(name="init", readonly=True), "'init' runs at deploy"),
        (minimal(name="init", returns="u8"), "'init' cannot return"),
        (minimal(name="Go"), "methods[0].name: 'Go' is not a valid name"),
        ({"abi_version": 1, "contract": "demo", "methods": [], "events": [{"name": "e" * 65}]},
         "events[0].name"),
        ([], "top level: expected a JSON object"),
    ],
)
def test_bad_abi_documents_name_the_problem(document: object, fragment: str) -> None:
    with pytest.raises(AbiError) as raised:
        parse_abi(document, "demo.abi.json")
    assert str(raised.value).startswith("demo.abi.json: ")
    assert fragment in str(raised.value)


def test_duplicate_methods_are_refused() -> None:
    document = minimal()
    document["methods"].append(dict(document["methods"][0]))
    with pytest.raises(AbiError, match="methods: duplicate name 'go'"):
        parse_abi(document)


def test_load_reports_the_path(tmp_path: Path) -> None:
    broken = tmp_path / "x.abi.json"
    broken.write_text("{ not json")
    with pytest.raises(AbiError, match=r"x\.abi\.json: not valid JSON"):
        load_abi(broken)
    with pytest.raises(AbiError, match="cannot read ABI file"):
        load_abi(tmp_path / "absent.abi.json")
    broken.write_text(json.dumps(minimal(returns=3)))
    with pytest.raises(AbiError, match=r"x\.abi\.json: methods\[0\]\.returns: a type must be"):
        load_abi(broken)


# --- encoding checks ---------------------------------------------------------------


@pytest.fixture(scope="module")
def transfer() -> Any:
    return load_abi(TOKEN_ABI).method("transfer")


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((b"\x02" * 20, -1), {}, "argument 'amount': -1 is out of range for u128"),
        ((b"\x02" * 20, 1 << 128), {}, "out of range for u128"),
        ((b"\x02" * 19, 5), {}, "argument 'to': address must be exactly 20 bytes, got 19"),
        (("02" * 20, 5), {}, "argument 'to': expected address as bytes, got str"),
        ((b"\x02" * 20, True), {}, "argument 'amount': expected u128 (an int), got bool"),
        ((b"\x02" * 20, 1.5), {}, "expected u128 (an int), got float"),
        ((b"\x02" * 20,), {}, "missing argument 'amount'"),
        ((b"\x02" * 20, 1, 2), {}, "takes 2 arguments, got 3"),
        ((), {"to": b"\x02" * 20, "amount": 1, "memo": b""}, "has no parameter 'memo'"),
        ((b"\x02" * 20,), {"to": b"\x02" * 20, "amount": 1}, "got argument 'to' twice"),
    ],
)
def test_bad_arguments_are_refused_before_encoding(
    transfer: Any, args: tuple[object, ...], kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(AbiError) as raised:
        transfer.encode_args(*args, **kwargs)
    assert "method 'transfer'" in str(raised.value)
    assert fragment in str(raised.value)


def test_keyword_and_positional_arguments_agree(transfer: Any) -> None:
    positional = transfer.encode_args(b"\x02" * 20, 7)
    assert transfer.encode_args(to=b"\x02" * 20, amount=7) == positional
    assert transfer.encode_args(b"\x02" * 20, amount=7) == positional
    assert transfer.decode_args(positional) == {"to": b"\x02" * 20, "amount": 7}


@pytest.mark.parametrize(
    ("type_text", "value", "fragment"),
    [
        ("bool", 1, "expected bool"),
        ("string", b"x", "expected str"),
        ("string", "\ud800", "not encodable as UTF-8"),
        ("list<u8>", {1, 2}, "expected a list"),
        ("list<u8>", [1, 256], "value[1]: 256 is out of range for u8"),
        ("optional<hash>", b"\x00", "hash must be exactly 32 bytes"),
        ("i32", 1 << 31, "out of range for i32"),
    ],
)
def test_bad_values_name_the_problem(type_text: str, value: object, fragment: str) -> None:
    with pytest.raises(AbiError, match="value") as raised:
        encode_single(type_text, value)
    assert fragment in str(raised.value)


def test_results_and_events_decode_strictly() -> None:
    abi = load_abi(TOKEN_ABI)
    assert abi.method("transfer").decode_result(b"") is None
    assert abi.method("transfer").encode_result(None) == b""
    with pytest.raises(AbiError, match="returns nothing"):
        abi.method("transfer").decode_result(b"\x00")
    with pytest.raises(AbiError, match="trailing"):
        abi.method("balance_of").decode_result(b"\x00" * 17)
    with pytest.raises(AbiError, match="needs 16 bytes"):
        abi.method("balance_of").decode_result(b"\x00" * 15)
    with pytest.raises(AbiError, match="event 'mint'"):
        abi.event("mint").decode(b"\x00" * 20)
    with pytest.raises(AbiError, match="no method 'mintt'"):
        abi.method("mintt")
    with pytest.raises(AbiError, match="no event 'mintt'"):
        abi.event("mintt")


# --- round trips -------------------------------------------------------------------


def values_of(abi_type: AbiType, depth: int = 0) -> st.SearchStrategy[Any]:
    kind = abi_type.kind
    integer_bounds = {"u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1), "u32": (0, 2**32 - 1),
                      "u64": (0, 2**64 - 1), "u128": (0, 2**128 - 1),
                      "i32": (-(2**31), 2**31 - 1), "i64": (-(2**63), 2**63 - 1)}
    if kind in integer_bounds:
        return st.integers(*integer_bounds[kind])
    simple: dict[str, st.SearchStrategy[Any]] = {
        "bool": st.booleans(),
        "address": st.binary(min_size=20, max_size=20),
        "hash": st.binary(min_size=32, max_size=32),
        "bytes": st.binary(max_size=40),
        "string": st.text(max_size=20),
    }
    if kind in simple:
        return simple[kind]
    assert abi_type.item is not None
    if kind == "list":
        return st.lists(values_of(abi_type.item, depth + 1), max_size=4)
    return st.none() | values_of(abi_type.item, depth + 1)


SCALARS = ["u8", "u16", "u32", "u64", "u128", "i32", "i64", "bool", "address", "hash",
           "bytes", "string"]
types_strategy = st.recursive(
    st.sampled_from(SCALARS),
    lambda inner: st.builds(lambda kind, item: f"{kind}<{item}>",
                            st.sampled_from(["list", "optional"]), inner),
    max_leaves=3,
)


@settings(max_examples=60)
@given(st.data())
def test_encode_decode_round_trip(data: st.DataObject) -> None:
    type_text = data.draw(types_strategy)
    abi_type = parse_type(type_text)
    value = data.draw(values_of(abi_type))
    encoded = encode_single(abi_type, value)
    decoded = decode_single(abi_type, encoded)
    if isinstance(value, tuple):
        value = list(value)
    assert decoded == value
    assert encode_single(abi_type, decoded) == encoded


@settings(max_examples=60)
@given(st.binary(max_size=64))
def test_decoding_arbitrary_bytes_raises_only_abi_error(blob: bytes) -> None:
    abi = load_abi(TOKEN_ABI)
    for method in abi.methods:
        with contextlib.suppress(AbiError):
            method.decode_args(blob)
