"""docs/ABI-encoding.md's test vectors hold for the codec (the doc is the spec)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.conftest import REPOSITORY, TOKEN_DIR
from zonechain.contracts.abi import AbiError, decode_single, encode_single, load_abi

DOC = REPOSITORY / "docs" / "ABI-encoding.md"
NAMES: dict[str, Any] = {"bytes": bytes, "range": range,
                         "A1": b"\x01" * 20, "A2": b"\x02" * 20}


def section(name: str) -> list[tuple[str, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(f"<!-- vectors:{name}:begin -->(.*?)<!-- vectors:{name}:end -->", text,
                      re.DOTALL)
    assert match is not None, f"section {name} missing from {DOC}"
    rows: list[tuple[str, str, str]] = []
    for line in match.group(1).strip().splitlines()[2:]:  # after the header and |---|
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 3, line
        rows.append((cells[0], cells[1], cells[2]))
    return rows


def evaluate(expression: str) -> Any:
    # The doc is ours; values are Python literals plus bytes()/range() and A1/A2.
    return eval(expression, {"__builtins__": {}}, NAMES)


def test_every_section_has_vectors() -> None:
    assert len(section("values")) >= 25
    assert len(section("calls")) >= 4
    assert len(section("invalid")) >= 8


@pytest.mark.parametrize(("type_text", "value", "hex_text"), section("values"))
def test_value_vectors(type_text: str, value: str, hex_text: str) -> None:
    python_value = evaluate(value)
    assert encode_single(type_text, python_value).hex() == hex_text
    assert decode_single(type_text, bytes.fromhex(hex_text)) == python_value


def test_call_and_event_vectors() -> None:
    abi = load_abi(Path(TOKEN_DIR) / "token.abi.json")
    for what, arguments, hex_text in [(w, a, h) for w, a, h in section("calls")]:
        kind, name = what.replace("`", "").split()
        args = evaluate(arguments)
        if kind == "method":
            assert abi.method(name).encode_args(*args).hex() == hex_text, what
            assert list(abi.method(name).decode_args(bytes.fromhex(hex_text)).values()) == \
                list(args)
        else:
            assert abi.event(name).encode(*args).hex() == hex_text, what
            assert tuple(abi.event(name).decode(bytes.fromhex(hex_text)).values()) == args


@pytest.mark.parametrize(("type_text", "hex_text", "why"), section("invalid"))
def test_invalid_vectors_are_refused(type_text: str, hex_text: str, why: str) -> None:
    with pytest.raises(AbiError):
        decode_single(type_text, bytes.fromhex(hex_text))
