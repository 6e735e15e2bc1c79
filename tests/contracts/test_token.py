"""The token contract (contracts/zones/token) deployed and called through the real VM.

Every failure path asserts the contract's abort message and that state did
not change; every success asserts balances, supply and the exact events.
"""

from __future__ import annotations

import pytest
import wasmtime

from tests.contracts.chain_support import ALICE, BOB, CAROL, ISSUER, Chain, abort_message
from zonechain.contracts.toolchain import BuildResult
from zonechain.vm import abi as host_abi

U128_MAX = (1 << 128) - 1


@pytest.fixture
def chain(token_build: BuildResult) -> Chain:
    chain = Chain(token_build)
    outcome = chain.deploy("Euro Deposit", "EURD", 2, sender=ISSUER)
    assert outcome.ok, outcome.error
    return chain


def funded(chain: Chain, owner: bytes = ALICE, amount: int = 1_000) -> Chain:
    assert chain.call("mint", owner, amount).ok
    return chain


def test_module_imports_only_host_functions_and_exports_exactly_the_abi(
    token_build: BuildResult,
) -> None:
    module = wasmtime.Module(wasmtime.Engine(), token_build.code)
    for item in module.imports:
        assert item.module == host_abi.HOST_MODULE
        assert item.name in host_abi.HOST_FUNCTIONS_BY_NAME
    exported = sorted(item.name for item in module.exports)
    assert exported == sorted(["memory", *token_build.abi.method_names])
    assert "transfer_from" in exported and "init" in exported


def test_metadata_after_init(chain: Chain) -> None:
    assert chain.query("name") == "Euro Deposit"
    assert chain.query("symbol") == "EURD"
    assert chain.query("decimals") == 2
    assert chain.query("issuer") == ISSUER
    assert chain.query("total_supply") == 0
    assert chain.query("balance_of", ALICE) == 0


@pytest.mark.parametrize(
    ("name", "symbol", "decimals", "message"),
    [
        ("", "EURD", 2, "name must be 1 to 64 bytes"),
        ("x" * 65, "EURD", 2, "name must be 1 to 64 bytes"),
        ("Euro", "", 2, "symbol must be 1 to 16 bytes"),
        ("Euro", "S" * 17, 2, "symbol must be 1 to 16 bytes"),
        ("Euro", "EURD", 39, "decimals must be at most 38"),
    ],
)
def test_init_rejects_bad_metadata(
    token_build: BuildResult, name: str, symbol: str, decimals: int, message: str
) -> None:
    chain = Chain(token_build)
    outcome = chain.deploy(name, symbol, decimals)
    assert abort_message(outcome) == message
    assert chain.state.items == {}


def test_init_cannot_run_twice(chain: Chain) -> None:
    before = dict(chain.state.items)
    outcome = chain.call("init", "Other", "OTH", 0, sender=BOB)
    assert not outcome.ok
    assert chain.state.items == before
    assert chain.query("issuer") == ISSUER


def test_mint_by_issuer(chain: Chain) -> None:
    outcome = chain.call("mint", ALICE, 1_000)
    assert outcome.ok
    assert chain.events(outcome) == [("mint", {"to": ALICE, "amount": 1_000})]
    assert chain.query("balance_of", ALICE) == 1_000
    assert chain.query("total_supply") == 1_000


def test_mint_by_anyone_else_is_refused(chain: Chain) -> None:
    outcome = chain.call("mint", ALICE, 1_000, sender=ALICE)
    assert abort_message(outcome) == "caller is not the issuer"
    assert chain.query("total_supply") == 0


def test_mint_overflowing_the_supply_is_refused(chain: Chain) -> None:
    funded(chain, ALICE, U128_MAX)
    before = dict(chain.state.items)
    outcome = chain.call("mint", BOB, 1)
    assert abort_message(outcome) == "total supply overflow"
    assert chain.state.items == before


def test_transfer_moves_balance_and_emits(chain: Chain) -> None:
    funded(chain)
    outcome = chain.call("transfer", BOB, 300, sender=ALICE)
    assert outcome.ok
    assert chain.events(outcome) == [("transfer", {"from": ALICE, "to": BOB, "amount": 300})]
    assert chain.query("balance_of", ALICE) == 700
    assert chain.query("balance_of", BOB) == 300
    assert chain.query("total_supply") == 1_000


def test_transfer_to_self_keeps_the_balance(chain: Chain) -> None:
    funded(chain)
    assert chain.call("transfer", ALICE, 400, sender=ALICE).ok
    assert chain.query("balance_of", ALICE) == 1_000


def test_transfer_of_everything_removes_the_entry(chain: Chain) -> None:
    funded(chain)
    assert chain.call("transfer", BOB, 1_000, sender=ALICE).ok
    assert chain.query("balance_of", ALICE) == 0
    # a zero balance is not stored: the account's key is gone from state
    assert not any(key.endswith(b"bal:" + ALICE) for key in chain.state.items)


def test_transfer_more_than_the_balance_is_refused(chain: Chain) -> None:
    funded(chain)
    before = dict(chain.state.items)
    outcome = chain.call("transfer", BOB, 1_001, sender=ALICE)
    assert abort_message(outcome) == "insufficient balance"
    assert outcome.events == ()
    assert chain.state.items == before


def test_approve_and_transfer_from(chain: Chain) -> None:
    funded(chain)
    outcome = chain.call("approve", BOB, 250, sender=ALICE)
    assert chain.events(outcome) == [
        ("approval", {"owner": ALICE, "spender": BOB, "amount": 250})
    ]
    assert chain.query("allowance", ALICE, BOB) == 250
    outcome = chain.call("transfer_from", ALICE, CAROL, 200, sender=BOB)
    assert outcome.ok
    assert chain.events(outcome) == [("transfer", {"from": ALICE, "to": CAROL, "amount": 200})]
    assert chain.query("allowance", ALICE, BOB) == 50
    assert chain.query("balance_of", ALICE) == 800
    assert chain.query("balance_of", CAROL) == 200


def test_transfer_from_beyond_the_allowance_is_refused(chain: Chain) -> None:
    funded(chain)
    assert chain.call("approve", BOB, 100, sender=ALICE).ok
    before = dict(chain.state.items)
    outcome = chain.call("transfer_from", ALICE, BOB, 101, sender=BOB)
    assert abort_message(outcome) == "allowance exceeded"
    assert chain.state.items == before


def test_transfer_from_beyond_the_balance_is_refused(chain: Chain) -> None:
    funded(chain, ALICE, 50)
    assert chain.call("approve", BOB, 100, sender=ALICE).ok
    outcome = chain.call("transfer_from", ALICE, BOB, 60, sender=BOB)
    assert abort_message(outcome) == "insufficient balance"
    assert chain.query("allowance", ALICE, BOB) == 100


def test_transfer_from_without_approval_is_refused(chain: Chain) -> None:
    funded(chain)
    outcome = chain.call("transfer_from", ALICE, BOB, 1, sender=BOB)
    assert abort_message(outcome) == "allowance exceeded"


def test_burn_by_issuer_reduces_supply(chain: Chain) -> None:
    funded(chain, ISSUER, 500)
    outcome = chain.call("burn", 200)
    assert chain.events(outcome) == [("burn", {"from": ISSUER, "amount": 200})]
    assert chain.query("balance_of", ISSUER) == 300
    assert chain.query("total_supply") == 300


def test_burn_more_than_held_is_refused(chain: Chain) -> None:
    funded(chain, ISSUER, 500)
    outcome = chain.call("burn", 501)
    assert abort_message(outcome) == "insufficient balance"
    assert chain.query("total_supply") == 500


def test_burn_by_a_holder_is_refused(chain: Chain) -> None:
    funded(chain)
    outcome = chain.call("burn", 1, sender=ALICE)
    assert abort_message(outcome) == "caller is not the issuer"


@pytest.mark.parametrize(
    ("method", "data", "message"),
    [
        ("transfer", b"", "bad arguments: 'to' runs past the end of the input"),
        ("transfer", b"\x02" * 20 + b"\x01" * 15,
         "bad arguments: 'amount' runs past the end of the input"),
        ("transfer", b"\x02" * 20 + b"\x01" * 17, "bad arguments: unexpected trailing bytes"),
        ("total_supply", b"\x00", "bad arguments: unexpected trailing bytes"),
    ],
)
def test_bad_arguments_abort_with_a_message(
    chain: Chain, method: str, data: bytes, message: str
) -> None:
    before = dict(chain.state.items)
    assert abort_message(chain.call_raw(method, data)) == message
    assert chain.state.items == before


def test_queries_cannot_write(chain: Chain) -> None:
    funded(chain)
    outcome = chain.query_raw("transfer", chain.abi.method("transfer").encode_args(BOB, 1))
    assert not outcome.ok


def test_supply_equals_the_sum_of_balances_after_a_sequence(chain: Chain) -> None:
    holders = [ISSUER, ALICE, BOB, CAROL]
    funded(chain, ALICE, 10_000)
    funded(chain, BOB, 5_000)
    steps = [(ALICE, BOB, 2_500), (BOB, CAROL, 7_000), (CAROL, ISSUER, 1), (BOB, ALICE, 7_501)]
    for sender, to, amount in steps:
        chain.call("transfer", to, amount, sender=sender)
    chain.call("burn", 1)
    total = sum(chain.query("balance_of", holder) for holder in holders)
    assert total == chain.query("total_supply") == 14_999


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02\x00\x00\x00\xff\xfe", "bad arguments: 'name' is not valid UTF-8"),
        (b"\xff\xff\xff\x7f", "bad arguments: 'name' runs past the end of the input"),
        (b"\x01\x00\x00\x00E\x01\x00\x00\x00E", "bad arguments: 'decimals' runs past the end "
         "of the input"),
    ],
)
def test_bad_deploy_arguments_abort_with_a_message(
    token_build: BuildResult, data: bytes, message: str
) -> None:
    chain = Chain(token_build)
    assert abort_message(chain.deploy_raw(data)) == message
    assert chain.state.items == {}
