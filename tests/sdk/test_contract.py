"""Contract proxies built from the token ABI, against the fake node."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sdk.fake_node import TOKEN_ABI_PATH, FakeNode
from zonechain.contracts.abi import load_abi
from zonechain.sdk import (
    AbiArgumentError,
    CallOutcome,
    Client,
    Contract,
    ContractError,
    InvalidTransaction,
    Key,
    NodeError,
    deploy,
)

ALICE = Key.from_seed(b"\x0a" * 32)
BOB = Key.from_seed(b"\x0b" * 32)


@pytest.fixture
def node() -> Iterator[FakeNode]:
    with FakeNode() as running:
        yield running


@pytest.fixture
def client(node: FakeNode) -> Iterator[Client]:
    with Client(node.endpoint) as made:
        yield made


@pytest.fixture
def build_folder(tmp_path: Path) -> Path:
    (tmp_path / "token.wasm").write_bytes(b"\0asm\x01\0\0\0")
    shutil.copy(TOKEN_ABI_PATH, tmp_path / "token.abi.json")
    return tmp_path


@pytest.fixture
def token(client: Client, build_folder: Path) -> Contract:
    return deploy(client, ALICE, build_folder, "Fake", "FK", 2, zone="pay")


def test_deploy_returns_a_proxy(token: Contract, node: FakeNode) -> None:
    assert token.address in node.chain.contracts
    assert token.abi.contract == "token"
    assert "token" in repr(token) and token.address_text in repr(token)


def test_state_changing_call_returns_outcome_with_events(token: Contract) -> None:
    outcome = token.mint(ALICE.address, 1_000)
    assert isinstance(outcome, CallOutcome)
    assert outcome.receipt.succeeded and outcome.result is None and outcome.gas_used > 0
    outcome = token.transfer(to=BOB.address, amount=250)
    assert [(event.name, event.fields) for event in outcome.events] == [
        ("transfer", {"from": ALICE.address, "to": BOB.address, "amount": 250})]


def test_readonly_call_is_a_query_with_decoded_result(token: Contract, node: FakeNode) -> None:
    token.mint(BOB.address, 42)
    submissions = node.chain.submissions
    assert token.balance_of(BOB.address) == 42
    assert token.method("name")() == "Fake"
    assert node.chain.submissions == submissions  # nothing was sent as a transaction


def test_address_arguments_accept_text(token: Contract) -> None:
    token.mint(BOB.address_text, 5)
    assert token.balance_of(owner=BOB.address_text) == 5
    with pytest.raises(AbiArgumentError) as caught:
        text = BOB.address_text
        token.balance_of(text[:-1] + ("1" if text[-1] == "0" else "0"))
    assert caught.value.parameter == "owner" and "checksum" in str(caught.value)


def test_contract_error_carries_code_and_message(token: Contract) -> None:
    with pytest.raises(ContractError) as caught:
        token.transfer(BOB.address, 1)
    assert caught.value.code == "aborted"
    assert caught.value.message == "insufficient balance"


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda t: t.transfer(b"\x01" * 19, 5), "to"),
        (lambda t: t.transfer(BOB.address, -1), "amount"),
        (lambda t: t.transfer(BOB.address, True), "amount"),
        (lambda t: t.transfer(BOB.address), "amount"),
        (lambda t: t.balance_of(owner="zc..."), "owner"),
    ],
)
def test_bad_arguments_are_refused_before_sending(
    token: Contract, node: FakeNode, call: object, parameter: str
) -> None:
    submissions, queries = node.chain.submissions, node.calls("Query")
    with pytest.raises(AbiArgumentError) as caught:
        call(token)  # type: ignore[operator]
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)
    assert (node.chain.submissions, node.calls("Query")) == (submissions, queries)


def test_unknown_method(token: Contract) -> None:
    with pytest.raises(AttributeError, match="no method"):
        token.frobnicate  # noqa: B018
    with pytest.raises(AbiArgumentError, match="no method"):
        token.call("frobnicate")


def test_state_changing_call_needs_a_key(client: Client, token: Contract) -> None:
    reader = client.contract(token.address, TOKEN_ABI_PATH)
    assert reader.balance_of(BOB.address) == 0
    with pytest.raises(InvalidTransaction, match="key="):
        reader.transfer(BOB.address, 1)


def test_a_result_that_does_not_fit_the_abi_is_a_node_error(
    client: Client, token: Contract
) -> None:
    abi = load_abi(TOKEN_ABI_PATH).to_json()
    for method in abi["methods"]:
        if method["name"] == "balance_of":
            method["returns"] = "u8"  # the node returns 16 bytes
    from zonechain.contracts.abi import parse_abi

    wrong = client.contract(token.address, parse_abi(abi))
    with pytest.raises(NodeError, match="does not match the ABI"):
        wrong.balance_of(BOB.address)


def test_deploy_checks_init_arguments_first(client: Client, build_folder: Path,
                                            node: FakeNode) -> None:
    with pytest.raises(AbiArgumentError) as caught:
        deploy(client, ALICE, build_folder, "Fake", "FK", 300, zone="pay")
    assert caught.value.parameter == "decimals"
    assert node.chain.submissions == 0


def test_deploy_needs_an_abi(client: Client, tmp_path: Path) -> None:
    (tmp_path / "lonely.wasm").write_bytes(b"\0asm")
    with pytest.raises(InvalidTransaction, match="ABI"):
        deploy(client, ALICE, tmp_path / "lonely.wasm", zone="pay")
    bad_abi = tmp_path / "bad.abi.json"
    bad_abi.write_text("{}")
    with pytest.raises(AbiArgumentError):
        deploy(client, ALICE, tmp_path / "lonely.wasm", zone="pay", abi=bad_abi)
