"""expect_error and assert_event: they pass on a match and fail loudly, with detail, otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zonechain.sdk.testing import (
    Account,
    Chain,
    ContractFailed,
    ContractHandle,
    assert_event,
    expect_error,
)

TOKEN_DIR = Path(__file__).resolve().parents[2] / "contracts" / "zones" / "token"



@pytest.fixture
def chain() -> Chain:
    """A fresh chain (the plugin gives the same; defined here so no conftest can shadow it)."""
    return Chain()


@pytest.fixture
def alice(chain: Chain) -> Account:
    return chain.account("alice")


@pytest.fixture
def token(chain: Chain, alice: Account) -> ContractHandle:
    token = chain.deploy(alice, TOKEN_DIR, "Euro Deposit", "EURD", 2)
    token.call(alice).mint(alice, 10)
    return token


def overdraw(token: ContractHandle, sender: Account) -> None:
    token.call(sender).transfer(sender, 11)


@pytest.mark.parametrize("message", [None, "insufficient balance", "insufficient",
                                     re.compile(r"^insufficient \w+$")])
def test_expect_error_passes_on_a_matching_failure(chain: Chain, token: ContractHandle,
                                                   alice: Account,
                                                   message: str | re.Pattern[str] | None) -> None:
    with chain.expect_error(code="aborted", message=message) as expected:
        overdraw(token, alice)
    assert expected.error is not None and expected.error.message == "insufficient balance"
    with expect_error(message=message):
        overdraw(token, alice)


@pytest.mark.parametrize(("code", "message", "complaint"), [
    ("out_of_gas", None, "code 'out_of_gas'"),
    ("aborted", "allowance", "message containing 'allowance'"),
    (None, re.compile("^balance"), "message matching '^balance'"),
])
def test_expect_error_fails_on_a_different_failure(
    chain: Chain, token: ContractHandle, alice: Account, code: str | None,
    message: str | re.Pattern[str] | None, complaint: str,
) -> None:
    with pytest.raises(AssertionError, match=re.escape(complaint)) as raised, \
            chain.expect_error(code=code, message=message):
        overdraw(token, alice)
    assert "'insufficient balance'" in str(raised.value)


def test_expect_error_fails_when_nothing_fails(chain: Chain, token: ContractHandle,
                                               alice: Account) -> None:
    with pytest.raises(AssertionError, match="but nothing failed"), chain.expect_error():
        token.call(alice).transfer(alice, 1)
    with pytest.raises(AssertionError, match="but nothing failed"), expect_error():
        pass


def test_expect_error_lets_other_exceptions_through(chain: Chain) -> None:
    with pytest.raises(KeyError), chain.expect_error():
        raise KeyError("not a contract failure")
    with pytest.raises(TypeError):
        chain.expect_error(message=42)  # type: ignore[arg-type]


def test_chain_expect_error_accepts_failed_low_level_receipts(
    chain: Chain, token: ContractHandle, alice: Account
) -> None:
    assert token.abi is not None
    data = token.abi.method("transfer").encode_args(alice, 11)
    with chain.expect_error(code="aborted", message="insufficient") as expected:
        result = chain.call(alice, token, "transfer", data)
    assert isinstance(expected.error, ContractFailed)
    assert expected.error.receipt is result
    with pytest.raises(AssertionError, match="nothing failed"), chain.expect_error():
        pass  # the failure above happened before this block


def test_assert_event_matches_fields_and_explains_misses(
    chain: Chain, token: ContractHandle, alice: Account
) -> None:
    bob = chain.account("bob")
    result = token.call(alice).transfer(bob, 3)
    event = assert_event(result, "transfer", from_=alice, to=bob, amount=3)
    assert event.fields["amount"] == 3
    assert assert_event(result.events, "transfer", {"from": alice}) is event
    assert assert_event(result, "transfer", contract=token.address) is event
    with pytest.raises(AssertionError, match=r"(?s)no event 'transfer'.*events seen:.*amount"):
        assert_event(result, "transfer", amount=4)
    with pytest.raises(AssertionError, match="no event 'mint'"):
        chain.assert_event("mint")
    with pytest.raises(AssertionError, match="no events"):
        assert_event([], "mint")
