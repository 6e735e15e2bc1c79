"""The Zig author library (contracts/lib/zonechain.zig) against the Python codec, in the VM.

The probe contract (tests/contracts/probe) decodes one value with the
library's Reader and re-encodes it with its Writer: for every ABI type the
bytes that come back must equal the bytes the Python codec sent. Bad input
must abort with the library's message, and safety panics (overflow, bounds)
must become aborts with a readable message rather than bare traps. Contracts
run through the test harness (zonechain.sdk.testing).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.contracts.toolchain import BuildResult
from zonechain.sdk.testing import Account, CallResult, Chain, ContractHandle, account
from zonechain.vm.encoding import Reader

BLOCK_TIME_MS = 1_700_000_000_000
ISSUER = account("issuer")
ALICE = account("alice")

STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "u8": st.integers(0, 2**8 - 1),
    "u16": st.integers(0, 2**16 - 1),
    "u32": st.integers(0, 2**32 - 1),
    "u64": st.integers(0, 2**64 - 1),
    "u128": st.integers(0, 2**128 - 1),
    "i32": st.integers(-(2**31), 2**31 - 1),
    "i64": st.integers(-(2**63), 2**63 - 1),
    "bool": st.booleans(),
    "address": st.binary(min_size=20, max_size=20),
    "hash": st.binary(min_size=32, max_size=32),
    "bytes": st.binary(max_size=300),
    "string": st.text(max_size=60),
    "list_u16": st.lists(st.integers(0, 2**16 - 1), max_size=20),
    "optional_address": st.none() | st.binary(min_size=20, max_size=20),
}


def abort_message(outcome: CallResult) -> str:
    assert not outcome.ok, "the call was expected to fail"
    assert outcome.error_message is not None
    return outcome.error_message


def new_chain() -> Chain:
    return Chain(zone="trade", time_ms=BLOCK_TIME_MS)


@pytest.fixture(scope="module")
def probe(probe_build: BuildResult) -> ContractHandle:
    return new_chain().deploy(ISSUER, probe_build)


def call(probe: ContractHandle, method: str, *args: object,
         sender: Account = ISSUER) -> CallResult:
    """A transaction whose failure is returned, not raised."""
    result: CallResult = getattr(probe.call(sender, check=False), method)(*args)
    return result


@pytest.mark.parametrize("type_name", sorted(STRATEGIES))
def test_zig_codec_echoes_python_encoding(probe: ContractHandle, type_name: str) -> None:
    assert probe.abi is not None
    method = probe.abi.method(f"echo_{type_name}")

    @settings(max_examples=15)
    @given(STRATEGIES[type_name])
    def round_trip(value: Any) -> None:
        data = method.encode_args(value)
        outcome = probe.chain.query(probe, method.name, data)
        assert outcome.ok, outcome.error_message
        assert outcome.return_data == data
        assert method.decode_result(outcome.return_data) == value

    round_trip()


@pytest.mark.parametrize(
    ("method", "data", "message"),
    [
        ("echo_bool", b"\x02", "bad arguments: 'value' is not a bool (must be 0 or 1)"),
        ("echo_u32", b"\x01\x00\x00", "bad arguments: 'value' runs past the end of the input"),
        ("echo_u8", b"\x00\x00", "bad arguments: unexpected trailing bytes"),
        ("echo_address", b"\x01" * 19, "bad arguments: 'value' runs past the end of the input"),
        ("echo_string", b"\x02\x00\x00\x00\xc0\xaf", "bad arguments: 'value' is not valid UTF-8"),
        ("echo_string", b"\x03\x00\x00\x00\xed\xa0\x80",
         "bad arguments: 'value' is not valid UTF-8"),
        ("echo_optional_address", b"\x02",
         "bad arguments: 'value' has a bad optional tag (must be 0 or 1)"),
        ("echo_list_u16", b"\xff\xff\xff\xff",
         "bad arguments: 'value' has more items than the input holds"),
        ("echo_bytes", b"\x05\x00\x00\x00\xaa", "bad arguments: 'value' runs past the end of "
         "the input"),
        ("next_id", b"\x00", "bad arguments: unexpected trailing bytes"),
    ],
)
def test_bad_input_aborts_with_a_message(
    probe: ContractHandle, method: str, data: bytes, message: str
) -> None:
    assert abort_message(probe.chain.call(ISSUER, probe, method, data)) == message


def test_integer_overflow_is_an_abort_with_a_message(probe: ContractHandle) -> None:
    assert probe.query().add_unchecked(2, 3) == 5
    outcome = call(probe, "add_unchecked", 2**64 - 1, 1)
    assert abort_message(outcome) == "panic: integer overflow"


def test_out_of_bounds_index_is_an_abort_with_a_message(probe: ContractHandle) -> None:
    assert probe.query().index_small(3) == 40
    assert abort_message(call(probe, "index_small", 4)) == "panic: index out of bounds"


def test_checked_subtraction_aborts_with_the_callers_message(probe: ContractHandle) -> None:
    assert probe.query().checked(10, 4) == 6
    assert abort_message(call(probe, "checked", 4, 10)) == "amount exceeds balance"


def test_abort_parts_concatenates(probe: ContractHandle) -> None:
    assert abort_message(call(probe, "fail_with", "GBP")) == "unknown asset 'GBP'"


def test_storage_round_trip_and_counter(probe: ContractHandle) -> None:
    assert probe.abi is not None
    assert probe.query().load(b"k") is None
    assert call(probe, "store", b"k", 2**128 - 1).ok
    assert probe.query().load(b"k") == 2**128 - 1
    first = probe.abi.method("next_id").decode_result(call(probe, "next_id").return_data)
    second = probe.abi.method("next_id").decode_result(call(probe, "next_id").return_data)
    assert (first, second) == (1, 2)


def test_hashes_match_hashlib(probe: ContractHandle) -> None:
    data = b"zonechain"
    assert probe.query().hashes(data) == [
        hashlib.sha256(data).digest(),
        hashlib.blake2b(data, digest_size=32).digest(),
    ]


def test_context_reads_the_call_context(probe: ContractHandle) -> None:
    assert probe.abi is not None
    outcome = call(probe, "context", sender=ALICE)
    assert outcome.ok, outcome.error_message
    reader = Reader(probe.abi.method("context").decode_result(outcome.return_data))
    assert reader.fixed(20) == ALICE  # caller
    assert reader.fixed(20) == ALICE  # origin
    assert reader.fixed(20) == probe.address
    assert reader.string() == "trade"
    height = reader.i64()
    assert height == probe.chain.height == outcome.block_height
    assert reader.i64() == BLOCK_TIME_MS
    assert reader.fixed(32) == outcome.tx_hash
    reader.finish()
    assert ISSUER != ALICE


def test_next_key_walks_keys_in_byte_order(probe_build: BuildResult) -> None:
    probe = new_chain().deploy(ISSUER, probe_build)
    for key in [b"p:b", b"p:a", b"q:z", b"p:\xff", b"p:"]:
        assert call(probe, "store", key, 1).ok
    assert probe.query().keys(b"p:") == [b"p:", b"p:a", b"p:b", b"p:\xff"]
    assert probe.query().keys(b"none") == []


def test_cross_contract_call(probe_build: BuildResult, token_build: BuildResult) -> None:
    chain = new_chain()
    probe = chain.deploy(ISSUER, probe_build)
    token = chain.deploy(ISSUER, token_build, "Euro", "EUR", 2)
    assert token.abi is not None
    assert token.call(ISSUER).mint(ALICE, 77).ok
    balance_of = token.abi.method("balance_of")
    raw = probe.query().call_other(token, "balance_of", balance_of.encode_args(ALICE))
    assert balance_of.decode_result(raw) == 77
    mint_args = token.abi.method("mint").encode_args(ALICE, 1)
    outcome = call(probe, "call_other", token.address, "mint", mint_args)
    message = abort_message(outcome)
    assert message.startswith("call to mint failed: ")
    assert "caller is not the issuer" in message
    assert token.query().total_supply() == 77
