"""The token contract (contracts/zones/token) deployed and called through the test harness.

Every failure path asserts the contract's abort message and that contract
state did not change; every success asserts balances, supply and the exact
events. The harness (zonechain.sdk.testing) runs the real VM and signs real
transactions, so a failed call still uses its sender's nonce: "state did not
change" is checked on everything but account records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import wasmtime

from zonechain.contracts.toolchain import BuildResult
from zonechain.sdk.testing import Account, Accounts, Chain, ContractHandle
from zonechain.vm import abi as host_abi
from zonechain.vm.state import PREFIX_ACCOUNT

U128_MAX = (1 << 128) - 1


@pytest.fixture
def issuer(accounts: Accounts) -> Account:
    return accounts.issuer


@pytest.fixture
def alice(accounts: Accounts) -> Account:
    return accounts.alice


@pytest.fixture
def bob(accounts: Accounts) -> Account:
    return accounts.bob


@pytest.fixture
def carol(accounts: Accounts) -> Account:
    return accounts.carol


@pytest.fixture
def token(chain: Chain, token_build: BuildResult, issuer: Account) -> ContractHandle:
    return chain.deploy(issuer, token_build, "Euro Deposit", "EURD", 2)


def funded(token: ContractHandle, owner: Account, amount: int = 1_000) -> ContractHandle:
    issuer = token.deployer
    assert isinstance(issuer, Account)
    assert token.call(issuer).mint(owner, amount).ok
    return token


def contract_state(chain: Chain) -> dict[bytes, bytes]:
    """Every state item but account records (nonces)."""
    return {key: value for key, value in chain.items().items()
            if not key.startswith(PREFIX_ACCOUNT)}


@contextmanager
def aborts(chain: Chain, message: str) -> Iterator[None]:
    """The block's call must abort with exactly ``message``."""
    with chain.expect_error(code="aborted", message=message) as expected:
        yield
    assert expected.error is not None and expected.error.message == message


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


def test_metadata_after_init(token: ContractHandle, issuer: Account, alice: Account) -> None:
    query = token.query()
    assert query.name() == "Euro Deposit"
    assert query.symbol() == "EURD"
    assert query.decimals() == 2
    assert query.issuer() == issuer
    assert query.total_supply() == 0
    assert query.balance_of(alice) == 0


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
    chain: Chain, token_build: BuildResult, issuer: Account, name: str, symbol: str,
    decimals: int, message: str,
) -> None:
    with aborts(chain, message):
        chain.deploy(issuer, token_build, name, symbol, decimals)
    assert contract_state(chain) == {}


def test_init_cannot_run_twice(chain: Chain, token: ContractHandle, issuer: Account,
                               bob: Account) -> None:
    before = contract_state(chain)
    outcome = token.call(bob, check=False).init("Other", "OTH", 0)
    assert not outcome.ok
    assert contract_state(chain) == before
    assert token.query().issuer() == issuer


def test_mint_by_issuer(token: ContractHandle, issuer: Account, alice: Account) -> None:
    outcome = token.call(issuer).mint(alice, 1_000)
    assert outcome.ok
    assert outcome.event_items() == [("mint", {"to": alice, "amount": 1_000})]
    assert token.query().balance_of(alice) == 1_000
    assert token.query().total_supply() == 1_000


def test_mint_by_anyone_else_is_refused(chain: Chain, token: ContractHandle,
                                        alice: Account) -> None:
    with aborts(chain, "caller is not the issuer"):
        token.call(alice).mint(alice, 1_000)
    assert token.query().total_supply() == 0


def test_mint_overflowing_the_supply_is_refused(chain: Chain, token: ContractHandle,
                                                issuer: Account, alice: Account,
                                                bob: Account) -> None:
    funded(token, alice, U128_MAX)
    before = contract_state(chain)
    with aborts(chain, "total supply overflow"):
        token.call(issuer).mint(bob, 1)
    assert contract_state(chain) == before


def test_transfer_moves_balance_and_emits(token: ContractHandle, alice: Account,
                                          bob: Account) -> None:
    funded(token, alice)
    outcome = token.call(alice).transfer(bob, 300)
    assert outcome.ok
    assert outcome.event_items() == [("transfer", {"from": alice, "to": bob, "amount": 300})]
    assert token.query().balance_of(alice) == 700
    assert token.query().balance_of(bob) == 300
    assert token.query().total_supply() == 1_000


def test_transfer_to_self_keeps_the_balance(token: ContractHandle, alice: Account) -> None:
    funded(token, alice)
    assert token.call(alice).transfer(alice, 400).ok
    assert token.query().balance_of(alice) == 1_000


def test_transfer_of_everything_removes_the_entry(token: ContractHandle, alice: Account,
                                                  bob: Account) -> None:
    funded(token, alice)
    assert token.call(alice).transfer(bob, 1_000).ok
    assert token.query().balance_of(alice) == 0
    # a zero balance is not stored: the account's key is gone from state
    assert not any(key.endswith(b"bal:" + alice) for key in token.storage())


def test_transfer_more_than_the_balance_is_refused(chain: Chain, token: ContractHandle,
                                                   alice: Account, bob: Account) -> None:
    funded(token, alice)
    before = contract_state(chain)
    outcome = token.call(alice, check=False).transfer(bob, 1_001)
    assert not outcome.ok and outcome.error_message == "insufficient balance"
    assert outcome.events == ()
    assert contract_state(chain) == before


def test_approve_and_transfer_from(token: ContractHandle, alice: Account, bob: Account,
                                   carol: Account) -> None:
    funded(token, alice)
    outcome = token.call(alice).approve(bob, 250)
    assert outcome.event_items() == [
        ("approval", {"owner": alice, "spender": bob, "amount": 250})
    ]
    assert token.query().allowance(alice, bob) == 250
    outcome = token.call(bob).transfer_from(alice, carol, 200)
    assert outcome.ok
    assert outcome.event_items() == [("transfer", {"from": alice, "to": carol, "amount": 200})]
    assert token.query().allowance(alice, bob) == 50
    assert token.query().balance_of(alice) == 800
    assert token.query().balance_of(carol) == 200


def test_transfer_from_beyond_the_allowance_is_refused(chain: Chain, token: ContractHandle,
                                                       alice: Account, bob: Account) -> None:
    funded(token, alice)
    assert token.call(alice).approve(bob, 100).ok
    before = contract_state(chain)
    with aborts(chain, "allowance exceeded"):
        token.call(bob).transfer_from(alice, bob, 101)
    assert contract_state(chain) == before


def test_transfer_from_beyond_the_balance_is_refused(chain: Chain, token: ContractHandle,
                                                     alice: Account, bob: Account) -> None:
    funded(token, alice, 50)
    assert token.call(alice).approve(bob, 100).ok
    with aborts(chain, "insufficient balance"):
        token.call(bob).transfer_from(alice, bob, 60)
    assert token.query().allowance(alice, bob) == 100


def test_transfer_from_without_approval_is_refused(chain: Chain, token: ContractHandle,
                                                   alice: Account, bob: Account) -> None:
    funded(token, alice)
    with aborts(chain, "allowance exceeded"):
        token.call(bob).transfer_from(alice, bob, 1)


def test_burn_by_issuer_reduces_supply(token: ContractHandle, issuer: Account) -> None:
    funded(token, issuer, 500)
    outcome = token.call(issuer).burn(200)
    assert outcome.event_items() == [("burn", {"from": issuer, "amount": 200})]
    assert token.query().balance_of(issuer) == 300
    assert token.query().total_supply() == 300


def test_burn_more_than_held_is_refused(chain: Chain, token: ContractHandle,
                                        issuer: Account) -> None:
    funded(token, issuer, 500)
    with aborts(chain, "insufficient balance"):
        token.call(issuer).burn(501)
    assert token.query().total_supply() == 500


def test_burn_by_a_holder_is_refused(chain: Chain, token: ContractHandle,
                                     alice: Account) -> None:
    funded(token, alice)
    with aborts(chain, "caller is not the issuer"):
        token.call(alice).burn(1)


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
    chain: Chain, token: ContractHandle, issuer: Account, method: str, data: bytes,
    message: str,
) -> None:
    before = contract_state(chain)
    with aborts(chain, message):
        chain.call(issuer, token, method, data)
    assert contract_state(chain) == before


def test_queries_cannot_write(chain: Chain, token: ContractHandle, alice: Account,
                              bob: Account) -> None:
    funded(token, alice)
    assert token.abi is not None
    outcome = chain.query(token, "transfer", token.abi.method("transfer").encode_args(bob, 1),
                          sender=alice)
    assert not outcome.ok
    assert outcome.error_code == "read_only"


def test_supply_equals_the_sum_of_balances_after_a_sequence(
    token: ContractHandle, issuer: Account, alice: Account, bob: Account, carol: Account,
) -> None:
    holders = [issuer, alice, bob, carol]
    funded(token, alice, 10_000)
    funded(token, bob, 5_000)
    steps = [(alice, bob, 2_500), (bob, carol, 7_000), (carol, issuer, 1), (bob, alice, 7_501)]
    for sender, to, amount in steps:
        token.call(sender, check=False).transfer(to, amount)
    token.call(issuer).burn(1)
    total = sum(token.query().balance_of(holder) for holder in holders)
    assert total == token.query().total_supply() == 14_999


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
    chain: Chain, token_build: BuildResult, issuer: Account, data: bytes, message: str
) -> None:
    with aborts(chain, message):
        chain.deploy(issuer, token_build, init_data=data)
    assert contract_state(chain) == {}
