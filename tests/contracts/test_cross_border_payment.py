"""The cross-border payment contract (contracts/zones/cross_border_payment) with two tokens.

A sender bank pays EUR; an FX provider pays the beneficiary USD at its quote
(rate with 9 decimals). Scenarios follow the tracker: initiated ->
compliance_cleared -> settled / rejected (reason code) / refunded, with the
regulator's rules (blocked accounts, per-transaction and daily limits by
block time), quote expiry, and atomic two-currency settlement. Failures
assert the exact abort message and unchanged state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.contracts.zone_support import (
    Account,
    ZoneChain,
    abort_message,
    account,
    contract_address,
    record_decoder,
)
from zonechain.contracts.toolchain import BuildResult, build_contract

REPOSITORY = Path(__file__).resolve().parents[2]
ECB = account("ecb")
FED = account("fed")
ADMIN = account("admin")
REGULATOR = account("regulator")
FX = account("fx_provider")
SENDER = account("sender_bank")
BENEFICIARY = account("beneficiary")
STRANGER = account("stranger")
EUR = contract_address(ECB, 0)
USD = contract_address(FED, 0)
XBP = contract_address(ADMIN, 0)

RATE_SCALE = 10**9
EUR_USD = 1_085_000_000  # 1.085
EUR_FUNDS, USD_FUNDS = 100_000, 1_000_000
AMOUNT = 10_000
CONVERTED = AMOUNT * EUR_USD // RATE_SCALE  # 10,850
DAY_MS = 86_400_000
U128_MAX = (1 << 128) - 1

INITIATED, CLEARED, SETTLED, REJECTED, REFUNDED = 1, 2, 3, 4, 5
(SENDER_BLOCKED, BENEFICIARY_BLOCKED, OVER_TRANSACTION_LIMIT, OVER_DAILY_LIMIT, QUOTE_EXPIRED,
 CANCELLED_BY_SENDER, PROVIDER_NOT_REGISTERED) = range(1, 8)

PAYMENT_RECORD = record_decoder("payment", [
    ("state", "u8"), ("reason", "u8"), ("sender", "address"), ("beneficiary", "address"),
    ("quote_id", "u64"), ("fx_provider", "address"), ("source_token", "address"),
    ("target_token", "address"), ("source_amount", "u128"), ("target_amount", "u128"),
    ("created_height", "u64"), ("created_time_ms", "u64"),
])
QUOTE_RECORD = record_decoder("quote", [
    ("provider", "address"), ("source_token", "address"), ("target_token", "address"),
    ("rate", "u128"), ("expiry_height", "u64"),
])


@pytest.fixture(scope="module")
def payment_build() -> BuildResult:
    return build_contract(REPOSITORY / "contracts" / "zones" / "cross_border_payment")


class Corridor:
    """EUR -> USD: the sender holds EUR, the FX provider USD, both approved; one quote."""

    def __init__(self, token_build: BuildResult, payment_build: BuildResult) -> None:
        self.chain = ZoneChain()
        self.eur = self.chain.deploy(token_build, EUR, "Euro Deposit", "EURD", 2, sender=ECB)
        self.usd = self.chain.deploy(token_build, USD, "Dollar Deposit", "USDD", 2, sender=FED)
        self.xbp = self.chain.deploy(payment_build, XBP, sender=ADMIN)
        assert self.eur.call("mint", SENDER, EUR_FUNDS, sender=ECB).ok
        assert self.usd.call("mint", FX, USD_FUNDS, sender=FED).ok
        assert self.eur.call("approve", XBP, EUR_FUNDS, sender=SENDER).ok
        assert self.usd.call("approve", XBP, USD_FUNDS, sender=FX).ok
        assert self.xbp.call("set_regulator", REGULATOR, sender=ADMIN).ok
        assert self.xbp.call("register_fx_provider", FX, sender=ADMIN).ok
        self.quote_id = self.quote()

    def quote(self, rate: int = EUR_USD, expiry_in: int = 50) -> int:
        outcome = self.xbp.call("post_quote", EUR, USD, rate, self.chain.height + expiry_in,
                                sender=FX)
        assert outcome.ok, outcome
        return int(self.xbp.abi.method("post_quote").decode_result(outcome.return_data))

    def pay(self, amount: int = AMOUNT, quote_id: int | None = None,
            beneficiary: bytes = BENEFICIARY, sender: Account = SENDER) -> tuple[int, Any]:
        outcome = self.xbp.call("create_payment", beneficiary, amount,
                                self.quote_id if quote_id is None else quote_id, sender=sender)
        assert outcome.ok, outcome
        return int(self.xbp.abi.method("create_payment").decode_result(outcome.return_data)), \
            outcome

    def payment(self, payment_id: int) -> dict[str, Any]:
        return PAYMENT_RECORD.decode(self.xbp.query("get_payment", payment_id))

    def tracker(self, payment_id: int) -> tuple[int, int]:
        record = self.payment(payment_id)
        return record["state"], record["reason"]

    def balances(self) -> dict[str, int]:
        return {"sender_eur": self.eur.query("balance_of", SENDER),
                "escrow_eur": self.eur.query("balance_of", XBP),
                "fx_eur": self.eur.query("balance_of", FX),
                "fx_usd": self.usd.query("balance_of", FX),
                "beneficiary_usd": self.usd.query("balance_of", BENEFICIARY)}

    def refused(self, method: str, *args: object, sender: Account) -> str:
        before = self.chain.storage()
        message = abort_message(self.xbp.call(method, *args, sender=sender))
        assert self.chain.storage() == before
        return message


@pytest.fixture
def corridor(token_build: BuildResult, payment_build: BuildResult) -> Corridor:
    return Corridor(token_build, payment_build)


START = {"sender_eur": EUR_FUNDS, "escrow_eur": 0, "fx_eur": 0, "fx_usd": USD_FUNDS,
         "beneficiary_usd": 0}
ESCROWED = {**START, "sender_eur": EUR_FUNDS - AMOUNT, "escrow_eur": AMOUNT}


def test_payment_is_cleared_then_settled_across_both_currencies(corridor: Corridor) -> None:
    payment_id, outcome = corridor.pay()
    assert payment_id == 1
    assert corridor.chain.events(outcome) == [
        ("cross_border_payment", "payment_initiated", {
            "payment_id": 1, "sender": SENDER, "beneficiary": BENEFICIARY, "quote_id": 1,
            "source_amount": AMOUNT, "target_amount": CONVERTED}),
        ("token", "transfer", {"from": SENDER, "to": XBP, "amount": AMOUNT}),
        ("cross_border_payment", "payment_cleared", {"payment_id": 1}),
    ]
    record = corridor.payment(1)
    assert record == {
        "state": CLEARED, "reason": 0, "sender": SENDER, "beneficiary": BENEFICIARY,
        "quote_id": 1, "fx_provider": FX, "source_token": EUR, "target_token": USD,
        "source_amount": AMOUNT, "target_amount": CONVERTED,
        "created_height": corridor.chain.height - 1,
        "created_time_ms": record["created_time_ms"]}
    assert record["created_time_ms"] == corridor.chain.time_ms - 1_000
    assert corridor.balances() == ESCROWED
    assert corridor.xbp.query("used_today", SENDER, EUR) == AMOUNT

    outcome = corridor.xbp.call("settle_payment", 1, sender=FX)
    assert outcome.ok, outcome
    assert corridor.chain.events(outcome) == [
        ("token", "transfer", {"from": FX, "to": BENEFICIARY, "amount": CONVERTED}),
        ("token", "transfer", {"from": XBP, "to": FX, "amount": AMOUNT}),
        ("cross_border_payment", "payment_settled", {
            "payment_id": 1, "source_amount": AMOUNT, "target_amount": CONVERTED}),
    ]
    assert [event.contract for event in outcome.events] == [USD, EUR, XBP]
    assert corridor.tracker(1) == (SETTLED, 0)
    assert corridor.balances() == {"sender_eur": EUR_FUNDS - AMOUNT, "escrow_eur": 0,
                                   "fx_eur": AMOUNT, "fx_usd": USD_FUNDS - CONVERTED,
                                   "beneficiary_usd": CONVERTED}
    assert corridor.refused("settle_payment", 1, sender=SENDER) == \
        "payment is not in state compliance_cleared"


def test_quote_record_and_validation(corridor: Corridor) -> None:
    record = QUOTE_RECORD.decode(corridor.xbp.query("get_quote", 1))
    assert record["provider"] == FX and record["rate"] == EUR_USD
    assert (record["source_token"], record["target_token"]) == (EUR, USD)
    height = corridor.chain.height
    outcome = corridor.xbp.call("post_quote", USD, EUR, 921_658_986, height + 9, sender=FX)
    assert corridor.chain.events(outcome) == [("cross_border_payment", "quote_posted", {
        "quote_id": 2, "provider": FX, "source_token": USD, "target_token": EUR,
        "rate": 921_658_986, "expiry_height": height + 9})]
    cases = [
        ((EUR, USD, EUR_USD, height + 9), STRANGER,
         "only a registered FX provider may post quotes"),
        ((EUR, EUR, EUR_USD, height + 9), FX, "quote tokens must differ"),
        ((EUR, USD, 0, height + 9), FX, "rate must be positive"),
        ((EUR, USD, EUR_USD, corridor.chain.height), FX,
         "expiry must be after the current height"),
    ]
    for args, who, message in cases:
        assert corridor.refused("post_quote", *args, sender=who) == message
    assert abort_message(corridor.xbp.call("get_quote", 9, sender=FX)) == "unknown quote"


@pytest.mark.parametrize(("amount", "converted"), [(1, 1), (999, 1_083), (7, 7)])
def test_conversion_rounds_down(corridor: Corridor, amount: int, converted: int) -> None:
    payment_id, _ = corridor.pay(amount)
    assert corridor.payment(payment_id)["target_amount"] == converted
    assert converted == amount * EUR_USD // RATE_SCALE


def test_conversion_limits(corridor: Corridor) -> None:
    tiny = corridor.quote(rate=1)
    assert corridor.refused("create_payment", BENEFICIARY, 999, tiny, sender=SENDER) == \
        "converted amount is zero"
    huge = corridor.quote(rate=U128_MAX)
    assert corridor.refused("create_payment", BENEFICIARY, RATE_SCALE + 1, huge,
                            sender=SENDER) == "converted amount overflow"
    # 10^9 * (2^128 - 1) overflows u128 but not the 256-bit intermediate
    assert corridor.eur.call("mint", SENDER, RATE_SCALE, sender=ECB).ok
    assert corridor.eur.call("approve", XBP, RATE_SCALE, sender=SENDER).ok
    payment_id, _ = corridor.pay(RATE_SCALE, huge)
    assert corridor.payment(payment_id)["target_amount"] == U128_MAX


@pytest.mark.parametrize(
    ("args", "sender", "message"),
    [
        ((BENEFICIARY, 0, 1), SENDER, "amount must be positive"),
        ((SENDER, AMOUNT, 1), SENDER, "beneficiary must differ from the sender"),
        ((BENEFICIARY, AMOUNT, 7), SENDER, "unknown quote"),
        ((BENEFICIARY, AMOUNT, 1), STRANGER, "escrow failed: aborted: allowance exceeded"),
        ((BENEFICIARY, EUR_FUNDS + 1, 1), SENDER, "escrow failed: aborted: allowance exceeded"),
    ],
)
def test_invalid_payments_are_not_recorded(corridor: Corridor, args: tuple[Any, ...],
                                           sender: Account, message: str) -> None:
    assert corridor.refused("create_payment", *args, sender=sender) == message
    assert abort_message(corridor.xbp.call("get_payment", 1, sender=SENDER)) == \
        "unknown payment"


# --- compliance -----------------------------------------------------------------------


def rejected(corridor: Corridor, reason: int, **kwargs: Any) -> None:
    before = corridor.balances()
    payment_id, outcome = corridor.pay(**kwargs)
    assert [topic for _, topic, _ in corridor.chain.events(outcome)] == \
        ["payment_initiated", "payment_rejected"]
    assert corridor.chain.events(outcome)[1][2] == {"payment_id": payment_id,
                                                    "reason": reason}
    assert corridor.tracker(payment_id) == (REJECTED, reason)
    assert corridor.balances() == before
    assert corridor.refused("settle_payment", payment_id, sender=SENDER) == \
        "payment is not in state compliance_cleared"


def test_blocked_accounts_are_rejected(corridor: Corridor) -> None:
    outcome = corridor.xbp.call("set_blocked", SENDER, True, sender=REGULATOR)
    assert corridor.chain.events(outcome) == [
        ("cross_border_payment", "account_blocked", {"account": SENDER, "blocked": True})]
    rejected(corridor, SENDER_BLOCKED)
    assert corridor.xbp.call("set_blocked", SENDER, False, sender=REGULATOR).ok
    assert corridor.xbp.call("set_blocked", BENEFICIARY, True, sender=REGULATOR).ok
    rejected(corridor, BENEFICIARY_BLOCKED)
    assert corridor.xbp.call("set_blocked", BENEFICIARY, False, sender=REGULATOR).ok
    payment_id, _ = corridor.pay()
    assert corridor.tracker(payment_id) == (CLEARED, 0)


def test_per_transaction_limit(corridor: Corridor) -> None:
    outcome = corridor.xbp.call("set_limits", EUR, AMOUNT, 0, sender=REGULATOR)
    assert corridor.chain.events(outcome) == [("cross_border_payment", "limits_set", {
        "token": EUR, "per_transaction_max": AMOUNT, "daily_max": 0})]
    rejected(corridor, OVER_TRANSACTION_LIMIT, amount=AMOUNT + 1)
    payment_id, _ = corridor.pay(AMOUNT)
    assert corridor.tracker(payment_id) == (CLEARED, 0)


def test_daily_limit_follows_block_time(corridor: Corridor) -> None:
    assert corridor.xbp.call("set_limits", EUR, 0, 25_000, sender=REGULATOR).ok
    corridor.chain.advance(1, ms=DAY_MS - corridor.chain.time_ms % DAY_MS)  # a day starts
    assert corridor.tracker(corridor.pay(15_000)[0]) == (CLEARED, 0)
    assert corridor.tracker(corridor.pay(10_000)[0]) == (CLEARED, 0)
    assert corridor.xbp.query("used_today", SENDER, EUR) == 25_000
    rejected(corridor, OVER_DAILY_LIMIT, amount=1)
    # the last millisecond of the day still counts against it
    corridor.chain.advance(1, ms=DAY_MS - 10_000)
    rejected(corridor, OVER_DAILY_LIMIT, amount=1)
    corridor.chain.advance(1, ms=10_000)
    assert corridor.xbp.query("used_today", SENDER, EUR) == 0
    assert corridor.tracker(corridor.pay(25_000)[0]) == (CLEARED, 0)


def test_an_expired_quote_is_rejected_at_creation(corridor: Corridor) -> None:
    corridor.chain.advance(60)
    rejected(corridor, QUOTE_EXPIRED)


def test_a_deregistered_providers_quote_is_rejected(corridor: Corridor) -> None:
    assert corridor.refused("deregister_fx_provider", FX, sender=REGULATOR) == \
        "only the admin may register FX providers"
    outcome = corridor.xbp.call("deregister_fx_provider", FX, sender=ADMIN)
    assert corridor.chain.events(outcome) == [
        ("cross_border_payment", "fx_provider_deregistered", {"provider": FX})]
    assert corridor.xbp.query("is_fx_provider", FX) is False
    rejected(corridor, PROVIDER_NOT_REGISTERED)


def test_rules_and_roles_are_guarded(corridor: Corridor) -> None:
    assert corridor.refused("set_regulator", STRANGER, sender=REGULATOR) == \
        "only the admin may set the regulator"
    assert corridor.refused("register_fx_provider", STRANGER, sender=FX) == \
        "only the admin may register FX providers"
    assert corridor.refused("set_blocked", SENDER, True, sender=ADMIN) == \
        "only the regulator may set compliance rules"
    assert corridor.refused("set_limits", EUR, 1, 1, sender=SENDER) == \
        "only the regulator may set compliance rules"
    assert corridor.xbp.query("is_fx_provider", FX) is True
    assert corridor.xbp.query("is_fx_provider", STRANGER) is False


def test_rules_need_a_regulator(token_build: BuildResult, payment_build: BuildResult) -> None:
    chain = ZoneChain()
    xbp = chain.deploy(payment_build, XBP, sender=ADMIN)
    assert abort_message(xbp.call("set_blocked", SENDER, True, sender=REGULATOR)) == \
        "no regulator is set"
    outcome = xbp.call("set_regulator", REGULATOR, sender=ADMIN)
    assert chain.events(outcome) == [
        ("cross_border_payment", "regulator_set", {"regulator": REGULATOR})]
    assert xbp.call("set_blocked", SENDER, True, sender=REGULATOR).ok


# --- settlement failures and refunds -------------------------------------------------------


def test_a_quote_expiring_before_settlement_refunds_the_sender(corridor: Corridor) -> None:
    payment_id, _ = corridor.pay()
    corridor.chain.advance(60)
    outcome = corridor.xbp.call("settle_payment", payment_id, sender=SENDER)
    assert corridor.chain.events(outcome) == [
        ("token", "transfer", {"from": XBP, "to": SENDER, "amount": AMOUNT}),
        ("cross_border_payment", "payment_refunded", {"payment_id": payment_id,
                                                      "reason": QUOTE_EXPIRED}),
    ]
    assert corridor.tracker(payment_id) == (REFUNDED, QUOTE_EXPIRED)
    assert corridor.balances() == START


def test_a_refused_fx_leg_leaves_no_trace(corridor: Corridor) -> None:
    payment_id, _ = corridor.pay()
    assert corridor.usd.call("approve", XBP, CONVERTED - 1, sender=FX).ok
    assert corridor.refused("settle_payment", payment_id, sender=FX) == \
        "fx leg failed: aborted: allowance exceeded"
    assert corridor.tracker(payment_id) == (CLEARED, 0)
    assert corridor.balances() == ESCROWED
    assert corridor.usd.call("transfer", STRANGER, USD_FUNDS - CONVERTED + 1, sender=FX).ok
    assert corridor.usd.call("approve", XBP, CONVERTED, sender=FX).ok
    assert corridor.refused("settle_payment", payment_id, sender=SENDER) == \
        "fx leg failed: aborted: insufficient balance"
    assert corridor.usd.call("transfer", FX, 1, sender=STRANGER).ok
    assert corridor.xbp.call("settle_payment", payment_id, sender=SENDER).ok
    assert corridor.usd.query("balance_of", BENEFICIARY) == CONVERTED
    assert corridor.tracker(payment_id) == (SETTLED, 0)


def test_only_the_sender_or_provider_settles(corridor: Corridor) -> None:
    payment_id, _ = corridor.pay()
    for who in (BENEFICIARY, STRANGER, REGULATOR):
        assert corridor.refused("settle_payment", payment_id, sender=who) == \
            "only the sender or the FX provider may settle the payment"
    assert corridor.refused("settle_payment", 99, sender=SENDER) == "unknown payment"


def test_the_sender_cancels_a_cleared_payment(corridor: Corridor) -> None:
    payment_id, _ = corridor.pay()
    assert corridor.refused("cancel_payment", payment_id, sender=FX) == \
        "only the sender may cancel the payment"
    outcome = corridor.xbp.call("cancel_payment", payment_id, sender=SENDER)
    assert corridor.chain.events(outcome)[-1] == (
        "cross_border_payment", "payment_refunded",
        {"payment_id": payment_id, "reason": CANCELLED_BY_SENDER})
    assert corridor.tracker(payment_id) == (REFUNDED, CANCELLED_BY_SENDER)
    assert corridor.balances() == START
    assert corridor.refused("cancel_payment", payment_id, sender=SENDER) == \
        "payment is not in state compliance_cleared"
    # a cancelled payment still counts towards the day's total
    assert corridor.xbp.query("used_today", SENDER, EUR) == AMOUNT


@pytest.fixture(scope="module")
def new_corridor(token_build: BuildResult,
                 payment_build: BuildResult) -> Callable[[], Corridor]:
    """A fresh corridor per Hypothesis example (the builds are made once)."""
    return lambda: Corridor(token_build, payment_build)


@settings(max_examples=15, deadline=None)
@given(amount=st.integers(1, EUR_FUNDS), rate=st.integers(1, 10**12))
def test_property_settlement_converts_at_the_quote_rounding_down(
    new_corridor: Callable[[], Corridor], amount: int, rate: int
) -> None:
    corridor = new_corridor()
    converted = amount * rate // RATE_SCALE
    if converted > USD_FUNDS:
        assert corridor.usd.call("mint", FX, converted, sender=FED).ok
        assert corridor.usd.call("approve", XBP, converted, sender=FX).ok
    outcome = corridor.xbp.call("create_payment", BENEFICIARY, amount, corridor.quote(rate),
                                sender=SENDER)
    if converted == 0:
        assert abort_message(outcome) == "converted amount is zero"
        return
    payment_id = outcome.value
    assert corridor.xbp.call("settle_payment", payment_id, sender=FX).ok
    assert corridor.tracker(payment_id) == (SETTLED, 0)
    assert corridor.usd.query("balance_of", BENEFICIARY) == converted
    assert corridor.eur.query("balance_of", FX) == amount
    assert corridor.eur.query("balance_of", SENDER) == EUR_FUNDS - amount
