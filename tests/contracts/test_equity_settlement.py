"""The equity settlement contract (contracts/zones/equity_settlement) with real tokens.

Delivery versus payment: matching instructions settle both legs in one call
or nothing moves (a failed cash leg after a successful securities leg leaves
no trace: the nested overlays are discarded with the aborting call);
mismatches are reported; cancellation; dividend distribution pro rata with
the rounding remainder returned. Failures assert the exact abort message and
unchanged state.
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
CENTRAL_BANK = account("central_bank")
ISSUER = account("acme_issuer")
BUYER = account("buyer")
SELLER = account("seller")
OTHER = account("other")
SECURITY = contract_address(ISSUER, 0)
CASH = contract_address(CENTRAL_BANK, 0)
OTHER_TOKEN = contract_address(CENTRAL_BANK, 1)
DVP = contract_address(CENTRAL_BANK, 2)

TRADE = b"\x77" * 32
BUY, SELL = 1, 2
QUANTITY, PRICE = 100, 25
SHARES, MONEY = 1_000, 1_000_000
U128_MAX = (1 << 128) - 1

INSTRUCTION_RECORD = record_decoder("instruction", [
    ("state", "u8"), ("submitter", "address"), ("counterparty", "address"),
    ("security", "address"), ("quantity", "u128"), ("price", "u128"), ("cash", "address"),
    ("submitted_height", "u64"),
])


@pytest.fixture(scope="module")
def dvp_build() -> BuildResult:
    return build_contract(REPOSITORY / "contracts" / "zones" / "equity_settlement")


class Market:
    """Shares held by the seller, cash by the buyer, both approved to the DvP contract."""

    def __init__(self, token_build: BuildResult, dvp_build: BuildResult) -> None:
        self.chain = ZoneChain()
        self.security = self.chain.deploy(token_build, SECURITY, "ACME shares", "ACME", 0,
                                          sender=ISSUER)
        self.cash = self.chain.deploy(token_build, CASH, "Euro Deposit", "EURD", 2,
                                      sender=CENTRAL_BANK)
        self.chain.deploy(token_build, OTHER_TOKEN, "Other", "OTH", 0, sender=CENTRAL_BANK)
        self.dvp = self.chain.deploy(dvp_build, DVP, sender=CENTRAL_BANK)
        assert self.security.call("mint", SELLER, SHARES, sender=ISSUER).ok
        assert self.cash.call("mint", BUYER, MONEY, sender=CENTRAL_BANK).ok
        assert self.security.call("approve", DVP, SHARES, sender=SELLER).ok
        assert self.cash.call("approve", DVP, MONEY, sender=BUYER).ok

    def holdings(self) -> dict[str, int]:
        return {f"{name}_{kind}": token.query("balance_of", who)
                for kind, token in (("shares", self.security), ("cash", self.cash))
                for name, who in (("buyer", BUYER), ("seller", SELLER))}

    def instruct(self, side: int, sender: Account, counterparty: bytes, *,
                 trade: bytes = TRADE, security: bytes = SECURITY, quantity: int = QUANTITY,
                 price: int = PRICE, cash: bytes = CASH) -> Any:
        return self.dvp.call("instruct", trade, side, security, quantity, price, cash,
                             counterparty, sender=sender)

    def buy(self, **terms: Any) -> Any:
        return self.instruct(BUY, BUYER, SELLER, **terms)

    def sell(self, **terms: Any) -> Any:
        return self.instruct(SELL, SELLER, BUYER, **terms)

    def instruction(self, side: int, trade: bytes = TRADE,
                    submitter: bytes | None = None) -> dict[str, Any]:
        if submitter is None:
            submitter = BUYER if side == BUY else SELLER
        return INSTRUCTION_RECORD.decode(self.dvp.query("get_instruction", trade, side,
                                                        submitter))

    def states(self, trade: bytes = TRADE) -> tuple[int, int]:
        return self.instruction(BUY, trade)["state"], self.instruction(SELL, trade)["state"]

    def refused(self, method: str, *args: object, sender: Account) -> str:
        before = self.chain.storage()
        message = abort_message(self.dvp.call(method, *args, sender=sender))
        assert self.chain.storage() == before
        return message


@pytest.fixture
def market(token_build: BuildResult, dvp_build: BuildResult) -> Market:
    return Market(token_build, dvp_build)


UNSETTLED = {"buyer_shares": 0, "seller_shares": SHARES, "buyer_cash": MONEY,
             "seller_cash": 0}
SETTLED = {"buyer_shares": QUANTITY, "seller_shares": SHARES - QUANTITY,
           "buyer_cash": MONEY - QUANTITY * PRICE, "seller_cash": QUANTITY * PRICE}


# --- delivery versus payment -------------------------------------------------------


def test_matching_instructions_settle_both_legs_at_once(market: Market) -> None:
    outcome = market.buy()
    assert market.chain.events(outcome) == [
        ("equity_settlement", "instructed", {"trade_id": TRADE, "side": BUY,
                                             "submitter": BUYER})]
    assert market.instruction(BUY) == {
        "state": 1, "submitter": BUYER, "counterparty": SELLER, "security": SECURITY,
        "quantity": QUANTITY, "price": PRICE, "cash": CASH,
        "submitted_height": market.chain.height - 1}
    assert market.holdings() == UNSETTLED

    outcome = market.sell()
    assert outcome.ok, outcome
    assert market.chain.events(outcome) == [
        ("equity_settlement", "instructed", {"trade_id": TRADE, "side": SELL,
                                             "submitter": SELLER}),
        ("token", "transfer", {"from": SELLER, "to": BUYER, "amount": QUANTITY}),
        ("token", "transfer", {"from": BUYER, "to": SELLER, "amount": QUANTITY * PRICE}),
        ("equity_settlement", "settled", {
            "trade_id": TRADE, "buyer": BUYER, "seller": SELLER, "security": SECURITY,
            "quantity": QUANTITY, "cash": CASH, "cash_amount": QUANTITY * PRICE}),
    ]
    assert outcome.events[1].contract == SECURITY and outcome.events[2].contract == CASH
    assert market.holdings() == SETTLED
    assert market.states() == (2, 2)


def test_the_seller_may_instruct_first(market: Market) -> None:
    assert market.sell().ok
    assert market.buy().ok
    assert market.holdings() == SETTLED
    assert market.states() == (2, 2)


def test_missing_securities_fail_both_legs(market: Market) -> None:
    assert market.security.call("transfer", OTHER, SHARES - QUANTITY + 1, sender=SELLER).ok
    assert market.buy().ok
    assert market.refused("instruct", TRADE, SELL, SECURITY, QUANTITY, PRICE, CASH, BUYER,
                          sender=SELLER) == "securities leg failed: aborted: insufficient balance"
    assert market.instruction(BUY)["state"] == 1
    assert abort_message(market.dvp.call("get_instruction", TRADE, SELL, SELLER,
                                         sender=SELLER)) == "unknown instruction"


def test_a_failed_cash_leg_undoes_the_delivered_securities(market: Market) -> None:
    """The securities leg succeeds inside the call, the cash leg fails: no trace of either."""
    assert market.cash.call("transfer", OTHER, MONEY - QUANTITY * PRICE + 1, sender=BUYER).ok
    before = market.holdings()
    assert market.sell().ok
    assert market.refused("instruct", TRADE, BUY, SECURITY, QUANTITY, PRICE, CASH, SELLER,
                          sender=BUYER) == "cash leg failed: aborted: insufficient balance"
    assert market.holdings() == before
    assert market.security.query("allowance", SELLER, DVP) == SHARES
    assert market.instruction(SELL)["state"] == 1
    # the buyer is funded again and resubmits: the trade settles
    assert market.cash.call("transfer", BUYER, 1, sender=OTHER).ok
    assert market.buy().ok
    assert market.states() == (2, 2)
    assert market.security.query("balance_of", BUYER) == QUANTITY


def test_a_missing_approval_fails_the_settlement(market: Market) -> None:
    assert market.cash.call("approve", DVP, QUANTITY * PRICE - 1, sender=BUYER).ok
    assert market.sell().ok
    assert market.refused("instruct", TRADE, BUY, SECURITY, QUANTITY, PRICE, CASH, SELLER,
                          sender=BUYER) == "cash leg failed: aborted: allowance exceeded"
    assert market.holdings() == UNSETTLED


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"quantity": QUANTITY + 1}, "quantity"),
        ({"price": PRICE - 1}, "price"),
        ({"security": OTHER_TOKEN}, "security"),
        ({"cash": OTHER_TOKEN}, "cash"),
    ],
)
def test_a_mismatch_is_reported_and_nothing_moves(market: Market, terms: dict[str, Any],
                                                  field: str) -> None:
    assert market.buy().ok
    outcome = market.sell(**terms)
    assert outcome.ok
    assert market.chain.events(outcome)[1:] == [
        ("equity_settlement", "mismatch", {"trade_id": TRADE, "field": field})]
    assert market.states() == (1, 1)
    assert market.holdings() == UNSETTLED
    # the seller corrects its instruction: cancel and resubmit
    assert market.dvp.call("cancel", TRADE, SELL, sender=SELLER).ok
    assert market.sell().ok
    assert market.holdings() == SETTLED


def test_a_wrong_counterparty_is_a_mismatch(market: Market) -> None:
    assert market.instruct(BUY, BUYER, OTHER).ok
    outcome = market.sell()
    assert market.chain.events(outcome)[1:] == [
        ("equity_settlement", "mismatch", {"trade_id": TRADE, "field": "counterparty"})]
    assert market.states() == (1, 1)
    assert market.holdings() == UNSETTLED


def test_a_third_party_cannot_take_the_counterpartys_place(market: Market) -> None:
    """Instructions are keyed by submitter: a stranger's sell does not block the seller."""
    assert market.buy().ok
    outcome = market.instruct(SELL, OTHER, BUYER)
    assert outcome.ok
    assert market.chain.events(outcome)[1:] == [
        ("equity_settlement", "mismatch", {"trade_id": TRADE, "field": "counterparty"})]
    # a sell naming a buyer without an instruction simply waits
    outcome = market.instruct(SELL, OTHER, SELLER, trade=b"\x78" * 32)
    assert [topic for _, topic, _ in market.chain.events(outcome)] == ["instructed"]
    assert market.sell().ok
    assert market.holdings() == SETTLED
    assert market.instruction(SELL, submitter=OTHER)["state"] == 1


# --- cancellation -----------------------------------------------------------------------


def test_cancellation_by_the_submitter_before_matching(market: Market) -> None:
    assert market.buy().ok
    # only the submitter has an instruction to cancel
    assert market.refused("cancel", TRADE, BUY, sender=SELLER) == "unknown instruction"
    assert market.refused("cancel", TRADE, SELL, sender=SELLER) == "unknown instruction"
    outcome = market.dvp.call("cancel", TRADE, BUY, sender=BUYER)
    assert market.chain.events(outcome) == [
        ("equity_settlement", "instruction_cancelled", {"trade_id": TRADE, "side": BUY,
                                                        "submitter": BUYER})]
    assert market.instruction(BUY)["state"] == 3
    assert market.refused("cancel", TRADE, BUY, sender=BUYER) == "instruction is not pending"
    # a sell instruction now finds nothing pending to match
    assert market.sell().ok
    assert market.holdings() == UNSETTLED
    assert market.states() == (3, 1)


def test_a_settled_trade_cannot_be_cancelled_or_resubmitted(market: Market) -> None:
    assert market.buy().ok and market.sell().ok
    assert market.refused("cancel", TRADE, BUY, sender=BUYER) == "instruction is not pending"
    assert market.refused("instruct", TRADE, SELL, SECURITY, QUANTITY, PRICE, CASH, BUYER,
                          sender=SELLER) == "an instruction for this trade and side already exists"


@pytest.mark.parametrize(
    ("side", "quantity", "price", "security", "counterparty", "message"),
    [
        (0, QUANTITY, PRICE, SECURITY, SELLER, "side must be 1 (buy) or 2 (sell)"),
        (3, QUANTITY, PRICE, SECURITY, SELLER, "side must be 1 (buy) or 2 (sell)"),
        (BUY, 0, PRICE, SECURITY, SELLER, "quantity must be positive"),
        (BUY, QUANTITY, 0, SECURITY, SELLER, "price must be positive"),
        (BUY, U128_MAX, 2, SECURITY, SELLER, "cash amount overflow"),
        (BUY, QUANTITY, PRICE, CASH, SELLER, "security and cash tokens must differ"),
        (BUY, QUANTITY, PRICE, SECURITY, BUYER, "counterparty must differ from the submitter"),
    ],
)
def test_instruction_validation(market: Market, side: int, quantity: int, price: int,
                                security: bytes, counterparty: bytes, message: str) -> None:
    assert market.refused("instruct", TRADE, side, security, quantity, price, CASH,
                          counterparty, sender=BUYER) == message


def test_a_duplicate_pending_instruction_is_refused(market: Market) -> None:
    assert market.buy().ok
    assert market.refused("instruct", TRADE, BUY, SECURITY, QUANTITY, PRICE, CASH, SELLER,
                          sender=BUYER) == "an instruction for this trade and side already exists"


# --- dividends ------------------------------------------------------------------------------


# sorted, as distribute_dividend wants them; EMPTY_HOLDER holds no shares
HOLDER_A, HOLDER_B, HOLDER_C, EMPTY_HOLDER = sorted(
    account(name) for name in ("holder_a", "holder_b", "holder_c", "holder_d"))


@pytest.fixture
def register(market: Market) -> Market:
    """Holders A 300, B 500, C 200 shares; the issuer holds 10,000 cash, approved."""
    for holder, shares in ((HOLDER_A, 300), (HOLDER_B, 500), (HOLDER_C, 200)):
        assert market.security.call("transfer", holder, shares, sender=SELLER).ok
    assert market.cash.call("mint", ISSUER, 10_000, sender=CENTRAL_BANK).ok
    assert market.cash.call("approve", DVP, 10_000, sender=ISSUER).ok
    return market


def test_dividend_is_paid_pro_rata_and_the_remainder_returned(register: Market) -> None:
    holders = [HOLDER_A, HOLDER_B, HOLDER_C, EMPTY_HOLDER]
    outcome = register.dvp.call("distribute_dividend", SECURITY, CASH, 1_001, holders,
                                sender=ISSUER)
    assert outcome.ok, outcome
    events = register.chain.events(outcome)
    assert [fields for _, topic, fields in events if topic == "dividend_paid"] == [
        {"dividend_id": 1, "holder": HOLDER_A, "amount": 300},
        {"dividend_id": 1, "holder": HOLDER_B, "amount": 500},
        {"dividend_id": 1, "holder": HOLDER_C, "amount": 200},
    ]
    assert events[0] == ("token", "transfer", {"from": ISSUER, "to": DVP, "amount": 1_001})
    assert events[-2] == ("token", "transfer", {"from": DVP, "to": ISSUER, "amount": 1})
    assert events[-1] == ("equity_settlement", "dividend_distributed", {
        "dividend_id": 1, "security": SECURITY, "cash": CASH, "amount": 1_001, "paid": 1_000,
        "remainder": 1})
    cash = register.cash
    assert [cash.query("balance_of", h) for h in holders] == [300, 500, 200, 0]
    assert cash.query("balance_of", ISSUER) == 10_000 - 1_000
    assert cash.query("balance_of", DVP) == 0
    result = register.dvp.abi.method("distribute_dividend").decode_result(outcome.return_data)
    assert result == 1


def test_dividend_shares_of_huge_amounts_do_not_overflow(register: Market) -> None:
    amount = 1 << 127
    assert register.cash.call("mint", ISSUER, amount, sender=CENTRAL_BANK).ok
    assert register.cash.call("approve", DVP, amount, sender=ISSUER).ok
    outcome = register.dvp.call("distribute_dividend", SECURITY, CASH, amount,
                                [HOLDER_A, HOLDER_B, HOLDER_C], sender=ISSUER)
    assert outcome.ok, outcome
    shares = [amount * 300 // 1000, amount * 500 // 1000, amount * 200 // 1000]
    assert [register.cash.query("balance_of", h) for h in (HOLDER_A, HOLDER_B, HOLDER_C)] == \
        shares
    assert register.chain.events(outcome)[-1][2]["remainder"] == amount - sum(shares)


@pytest.mark.parametrize(
    ("holders", "amount", "sender", "message"),
    [
        ([HOLDER_A], 100, SELLER, "only the security's issuer may distribute a dividend"),
        ([HOLDER_A], 0, ISSUER, "amount must be positive"),
        ([], 100, ISSUER, "holders must list 1 to 64 accounts"),
        ([bytes([1, n]) + bytes(18) for n in range(65)], 100, ISSUER,
         "holders must list 1 to 64 accounts"),
        ([HOLDER_B, HOLDER_A], 100, ISSUER,
         "holders must be sorted ascending without duplicates"),
        ([HOLDER_A, HOLDER_A], 100, ISSUER,
         "holders must be sorted ascending without duplicates"),
        ([EMPTY_HOLDER], 100, ISSUER, "the listed holders hold none of the security"),
        ([HOLDER_A], 10_001, ISSUER, "dividend deposit failed: aborted: allowance exceeded"),
    ],
)
def test_dividend_failures_change_nothing(register: Market, holders: list[bytes], amount: int,
                                          sender: Account, message: str) -> None:
    assert register.refused("distribute_dividend", SECURITY, CASH, amount, holders,
                            sender=sender) == message


def test_dividend_with_the_security_as_cash_is_refused(register: Market) -> None:
    assert register.refused("distribute_dividend", SECURITY, SECURITY, 10, [HOLDER_A],
                            sender=ISSUER) == "security and cash tokens must differ"


def test_a_dividend_to_the_most_holders_allowed(market: Market) -> None:
    holders = sorted(bytes([0x40, n]) + bytes(18) for n in range(64))
    for holder in holders:
        assert market.security.call("transfer", holder, 1 + holder[1] % 3, sender=SELLER).ok
    total_shares = sum(1 + holder[1] % 3 for holder in holders)
    assert market.cash.call("mint", ISSUER, 1_000_000, sender=CENTRAL_BANK).ok
    assert market.cash.call("approve", DVP, 1_000_000, sender=ISSUER).ok
    outcome = market.dvp.call("distribute_dividend", SECURITY, CASH, 1_000_000, holders,
                              sender=ISSUER)
    assert outcome.ok, outcome
    paid = [market.cash.query("balance_of", holder) for holder in holders]
    assert paid == [1_000_000 * (1 + holder[1] % 3) // total_shares for holder in holders]
    assert len(outcome.events) == 1 + 2 * 64 + 1 + 1  # deposit, payouts, remainder, summary
    assert market.chain.events(outcome)[-1][2]["remainder"] == 1_000_000 - sum(paid)


@pytest.fixture(scope="module")
def new_market(token_build: BuildResult, dvp_build: BuildResult) -> Callable[[], Market]:
    """A fresh market per Hypothesis example (the builds are made once)."""
    return lambda: Market(token_build, dvp_build)


@settings(max_examples=12, deadline=None)
@given(amount=st.integers(1, U128_MAX - MONEY),
       shares=st.lists(st.integers(0, 10**6), min_size=1, max_size=4).filter(any))
def test_property_dividend_shares_are_floors_and_the_remainder_closes_the_sum(
    new_market: Callable[[], Market], amount: int, shares: list[int]
) -> None:
    market = new_market()
    holders = sorted(bytes([0x50, n]) + bytes(18) for n in range(len(shares)))
    assert market.security.call("mint", ISSUER, sum(shares), sender=ISSUER).ok
    for holder, count in zip(holders, shares, strict=True):
        if count:
            assert market.security.call("transfer", holder, count, sender=ISSUER).ok
    assert market.cash.call("mint", ISSUER, amount, sender=CENTRAL_BANK).ok
    assert market.cash.call("approve", DVP, amount, sender=ISSUER).ok
    outcome = market.dvp.call("distribute_dividend", SECURITY, CASH, amount, holders,
                              sender=ISSUER)
    assert outcome.ok, outcome
    expected = [amount * count // sum(shares) for count in shares]
    assert [market.cash.query("balance_of", holder) for holder in holders] == expected
    assert market.cash.query("balance_of", ISSUER) == amount - sum(expected)
    assert market.cash.query("balance_of", DVP) == 0
    assert amount - sum(expected) < len(shares)
