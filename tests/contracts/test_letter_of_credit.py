"""The letter-of-credit contract (contracts/zones/letter_of_credit) with a real token.

Scenarios run the whole UCP 600 lifecycle through the VM: request, issue
(escrow by token.transfer_from), amendments, presentation, examination,
waiver or refusal, expiry. Every failure path asserts the contract's exact
abort message and that state (credit and balances) did not change; every
success asserts balances and the exact events, the token's included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
APPLICANT = account("applicant")
BANK = account("issuing_bank")
BENEFICIARY = account("beneficiary")
STRANGER = account("stranger")
TOKEN = contract_address(CENTRAL_BANK, 0)
CREDIT = contract_address(APPLICANT, 0)

AMOUNT = 5_000
FUNDS = 10_000
ALL_DOCUMENTS = 0b1111
BILL, INVOICE, PACKING, ORIGIN = (bytes([n]) * 32 for n in (0x11, 0x22, 0x33, 0x44))
STATES = {1: "requested", 2: "issued", 3: "presented", 4: "discrepant", 5: "paid",
          6: "refunded", 7: "expired", 8: "cancelled"}

CREDIT_RECORD = record_decoder("credit", [
    ("state", "u8"), ("applicant", "address"), ("issuing_bank", "address"),
    ("beneficiary", "address"), ("currency", "address"), ("amount", "u128"),
    ("expiry_height", "u64"), ("required_documents", "u8"), ("presented_documents", "u8"),
    ("bill_of_lading", "hash"), ("invoice", "hash"), ("packing_list", "hash"),
    ("certificate_of_origin", "hash"), ("amendment_pending", "bool"),
    ("amendment_amount", "u128"), ("amendment_expiry", "u64"),
])


@pytest.fixture(scope="module")
def credit_build() -> BuildResult:
    return build_contract(REPOSITORY / "contracts" / "zones" / "letter_of_credit")


class Desk:
    """A chain with a currency token and the credit contract; the applicant holds FUNDS."""

    def __init__(self, token_build: BuildResult, credit_build: BuildResult) -> None:
        self.chain = ZoneChain()
        self.token = self.chain.deploy(token_build, TOKEN, "Euro Deposit", "EURD", 2,
                                       sender=CENTRAL_BANK)
        self.credit = self.chain.deploy(credit_build, CREDIT, sender=APPLICANT)
        assert self.token.call("mint", APPLICANT, FUNDS, sender=CENTRAL_BANK).ok
        assert self.token.call("approve", CREDIT, FUNDS, sender=APPLICANT).ok

    def balances(self) -> tuple[int, int, int]:
        """(applicant, beneficiary, escrow held by the credit contract)."""
        applicant, beneficiary, escrow = (int(self.token.query("balance_of", who))
                                          for who in (APPLICANT, BENEFICIARY, CREDIT))
        return applicant, beneficiary, escrow

    def record(self, credit_id: int = 1) -> dict[str, Any]:
        return CREDIT_RECORD.decode(self.credit.query("get_credit", credit_id))

    def state(self, credit_id: int = 1) -> str:
        return STATES[self.record(credit_id)["state"]]

    def request(self, expiry_in: int = 20, documents: int = ALL_DOCUMENTS,
                amount: int = AMOUNT) -> int:
        outcome = self.credit.call("request_credit", BANK, BENEFICIARY, TOKEN, amount,
                                   self.chain.height + expiry_in, documents, sender=APPLICANT)
        assert outcome.ok, outcome
        return int(self.credit.abi.method("request_credit").decode_result(outcome.return_data))

    def issued(self, **kwargs: int) -> int:
        credit_id = self.request(**kwargs)
        assert self.credit.call("issue_credit", credit_id, sender=BANK).ok
        return credit_id

    def present(self, credit_id: int = 1, documents: tuple[bytes | None, ...] = (
            BILL, INVOICE, PACKING, ORIGIN), sender: Account = BENEFICIARY) -> Any:
        return self.credit.call("present_documents", credit_id, *documents, sender=sender)

    def presented(self) -> int:
        credit_id = self.issued()
        assert self.present(credit_id).ok
        return credit_id

    def discrepant(self) -> int:
        credit_id = self.presented()
        assert self.credit.call("examine", credit_id, False, sender=BANK).ok
        return credit_id

    def refused(self, method: str, *args: object, sender: Account) -> str:
        """Call that must fail: returns its message, checks nothing changed."""
        before = self.chain.storage()
        message = abort_message(self.credit.call(method, *args, sender=sender))
        assert self.chain.storage() == before
        return message


@pytest.fixture
def desk(token_build: BuildResult, credit_build: BuildResult) -> Desk:
    return Desk(token_build, credit_build)


# --- the compliant path ---------------------------------------------------------


def test_compliant_presentation_pays_the_beneficiary(desk: Desk) -> None:
    expiry = desk.chain.height + 20
    outcome = desk.credit.call("request_credit", BANK, BENEFICIARY, TOKEN, AMOUNT, expiry,
                               0b0011, sender=APPLICANT)
    assert outcome.ok
    assert desk.chain.events(outcome) == [("letter_of_credit", "credit_requested", {
        "credit_id": 1, "applicant": APPLICANT, "issuing_bank": BANK,
        "beneficiary": BENEFICIARY, "currency": TOKEN, "amount": AMOUNT,
        "expiry_height": expiry, "required_documents": 0b0011})]
    assert desk.state() == "requested" and desk.balances() == (FUNDS, 0, 0)
    assert desk.credit.query("credit_count") == 1

    outcome = desk.credit.call("issue_credit", 1, sender=BANK)
    assert desk.chain.events(outcome) == [
        ("token", "transfer", {"from": APPLICANT, "to": CREDIT, "amount": AMOUNT}),
        ("letter_of_credit", "credit_issued", {"credit_id": 1, "amount": AMOUNT}),
    ]
    assert desk.state() == "issued" and desk.balances() == (FUNDS - AMOUNT, 0, AMOUNT)

    outcome = desk.present(1, (BILL, INVOICE, None, ORIGIN))
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "documents_presented", {"credit_id": 1,
                                                     "presented_documents": 0b1011})]
    record = desk.record()
    assert record["state"] == 3 and record["presented_documents"] == 0b1011
    assert (record["bill_of_lading"], record["invoice"], record["packing_list"],
            record["certificate_of_origin"]) == (BILL, INVOICE, bytes(32), ORIGIN)

    outcome = desk.credit.call("examine", 1, True, sender=BANK)
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "documents_examined", {"credit_id": 1, "compliant": True}),
        ("token", "transfer", {"from": CREDIT, "to": BENEFICIARY, "amount": AMOUNT}),
        ("letter_of_credit", "credit_paid", {"credit_id": 1, "beneficiary": BENEFICIARY,
                                             "amount": AMOUNT}),
    ]
    assert desk.state() == "paid"
    assert desk.balances() == (FUNDS - AMOUNT, AMOUNT, 0)


def test_get_credit_returns_every_field(desk: Desk) -> None:
    desk.request(expiry_in=30, documents=0b0101)
    record = desk.record()
    assert record == {
        "state": 1, "applicant": APPLICANT, "issuing_bank": BANK, "beneficiary": BENEFICIARY,
        "currency": TOKEN, "amount": AMOUNT, "expiry_height": record["expiry_height"],
        "required_documents": 0b0101, "presented_documents": 0, "bill_of_lading": bytes(32),
        "invoice": bytes(32), "packing_list": bytes(32), "certificate_of_origin": bytes(32),
        "amendment_pending": False, "amendment_amount": 0, "amendment_expiry": 0,
    }
    assert record["expiry_height"] == desk.chain.height - 1 + 30


def test_credit_ids_count_up(desk: Desk) -> None:
    assert desk.credit.query("credit_count") == 0
    assert [desk.request() for _ in range(3)] == [1, 2, 3]
    assert desk.credit.query("credit_count") == 3


# --- request and cancellation -----------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expiry_in", "documents", "parties", "message"),
    [
        (0, 20, 15, (BANK, BENEFICIARY), "amount must be positive"),
        (AMOUNT, 0, 15, (BANK, BENEFICIARY), "expiry must be after the current height"),
        (AMOUNT, 20, 0, (BANK, BENEFICIARY),
         "required documents must be a non-empty set of known kinds (bits 0-3)"),
        (AMOUNT, 20, 16, (BANK, BENEFICIARY),
         "required documents must be a non-empty set of known kinds (bits 0-3)"),
        (AMOUNT, 20, 15, (APPLICANT, BENEFICIARY),
         "applicant, issuing bank and beneficiary must be three different accounts"),
        (AMOUNT, 20, 15, (BANK, BANK),
         "applicant, issuing bank and beneficiary must be three different accounts"),
    ],
)
def test_request_rejects_bad_terms(desk: Desk, amount: int, expiry_in: int, documents: int,
                                   parties: tuple[bytes, bytes], message: str) -> None:
    # the call runs at the current height, so expiry_in == 0 is not in the future
    assert desk.refused("request_credit", parties[0], parties[1], TOKEN, amount,
                        desk.chain.height + expiry_in, documents, sender=APPLICANT) == message
    assert desk.credit.query("credit_count") == 0


def test_applicant_cancels_a_request(desk: Desk) -> None:
    desk.request()
    assert desk.refused("cancel_request", 1, sender=BANK) == \
        "only the applicant may cancel the request"
    outcome = desk.credit.call("cancel_request", 1, sender=APPLICANT)
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "credit_cancelled", {"credit_id": 1})]
    assert desk.state() == "cancelled"
    assert desk.refused("issue_credit", 1, sender=BANK) == "credit is not in state requested"
    assert desk.balances() == (FUNDS, 0, 0)


def test_an_issued_credit_cannot_be_cancelled(desk: Desk) -> None:
    desk.issued()
    assert desk.refused("cancel_request", 1, sender=APPLICANT) == \
        "credit is not in state requested"


# --- issue ------------------------------------------------------------------------


def test_only_the_issuing_bank_issues(desk: Desk) -> None:
    desk.request()
    for who in (APPLICANT, BENEFICIARY, STRANGER):
        assert desk.refused("issue_credit", 1, sender=who) == \
            "only the issuing bank may issue the credit"
    assert desk.state() == "requested"


def test_issue_without_allowance_leaves_no_trace(desk: Desk) -> None:
    desk.request()
    assert desk.token.call("approve", CREDIT, AMOUNT - 1, sender=APPLICANT).ok
    assert desk.refused("issue_credit", 1, sender=BANK) == \
        "escrow failed: aborted: allowance exceeded"
    assert desk.state() == "requested"
    assert desk.balances() == (FUNDS, 0, 0)
    assert desk.token.query("allowance", APPLICANT, CREDIT) == AMOUNT - 1


def test_issue_beyond_the_applicants_balance_is_refused(desk: Desk) -> None:
    desk.request(amount=FUNDS + 1)
    assert desk.token.call("approve", CREDIT, FUNDS + 1, sender=APPLICANT).ok
    assert desk.refused("issue_credit", 1, sender=BANK) == \
        "escrow failed: aborted: insufficient balance"
    assert desk.balances() == (FUNDS, 0, 0)


def test_an_expired_request_cannot_be_issued(desk: Desk) -> None:
    desk.request(expiry_in=3)
    desk.chain.advance(5)
    assert desk.refused("issue_credit", 1, sender=BANK) == "credit has expired"


def test_unknown_credit_and_bad_arguments(desk: Desk) -> None:
    assert desk.refused("issue_credit", 7, sender=BANK) == "unknown credit"
    before = desk.chain.storage()
    outcome = desk.credit.call_raw("issue_credit", b"\x01\x00", sender=BANK)
    assert abort_message(outcome) == \
        "bad arguments: 'credit_id' runs past the end of the input"
    outcome = desk.credit.call_raw("present_documents", bytes(8) + b"\x02", sender=BENEFICIARY)
    assert abort_message(outcome) == \
        "bad arguments: 'bill_of_lading' has a bad optional tag (must be 0 or 1)"
    assert desk.chain.storage() == before


# --- presentation -------------------------------------------------------------------


def test_presentation_checks_party_state_and_documents(desk: Desk) -> None:
    desk.request(documents=0b0111)
    assert desk.refused("present_documents", 1, BILL, INVOICE, PACKING, None,
                        sender=BENEFICIARY) == "credit is not in state issued"
    assert desk.credit.call("issue_credit", 1, sender=BANK).ok
    assert desk.refused("present_documents", 1, BILL, INVOICE, PACKING, None,
                        sender=APPLICANT) == "only the beneficiary may present documents"
    assert desk.refused("present_documents", 1, BILL, None, PACKING, ORIGIN,
                        sender=BENEFICIARY) == "missing required document: invoice"
    assert desk.refused("present_documents", 1, BILL, INVOICE, bytes(32), None,
                        sender=BENEFICIARY) == "a document hash must not be zero"
    assert desk.state() == "issued"
    assert desk.present(1, (BILL, INVOICE, PACKING, None)).ok
    assert desk.refused("present_documents", 1, BILL, INVOICE, PACKING, None,
                        sender=BENEFICIARY) == "credit is not in state issued"


def test_presentation_after_expiry_is_refused(desk: Desk) -> None:
    desk.issued(expiry_in=4)
    desk.chain.advance(10)
    assert desk.refused("present_documents", 1, BILL, INVOICE, PACKING, ORIGIN,
                        sender=BENEFICIARY) == "credit has expired"


# --- examination, waiver, refusal -----------------------------------------------------


def test_only_the_issuing_bank_may_examine(desk: Desk) -> None:
    desk.issued()
    assert desk.refused("examine", 1, True, sender=BANK) == "credit is not in state presented"
    assert desk.present(1).ok
    for who in (APPLICANT, BENEFICIARY):
        assert desk.refused("examine", 1, True, sender=who) == \
            "only the issuing bank may examine"
    assert desk.balances() == (FUNDS - AMOUNT, 0, AMOUNT)


def test_discrepant_documents_waived_by_the_applicant_are_paid(desk: Desk) -> None:
    desk.presented()
    outcome = desk.credit.call("examine", 1, False, sender=BANK)
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "documents_examined", {"credit_id": 1, "compliant": False})]
    assert desk.state() == "discrepant"
    assert desk.refused("waive_discrepancies", 1, sender=BANK) == \
        "only the applicant may waive discrepancies"
    assert desk.refused("examine", 1, True, sender=BANK) == "credit is not in state presented"
    outcome = desk.credit.call("waive_discrepancies", 1, sender=APPLICANT)
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "discrepancies_waived", {"credit_id": 1}),
        ("token", "transfer", {"from": CREDIT, "to": BENEFICIARY, "amount": AMOUNT}),
        ("letter_of_credit", "credit_paid", {"credit_id": 1, "beneficiary": BENEFICIARY,
                                             "amount": AMOUNT}),
    ]
    assert desk.state() == "paid"
    assert desk.balances() == (FUNDS - AMOUNT, AMOUNT, 0)


def test_discrepant_documents_refused_return_the_funds(desk: Desk) -> None:
    desk.discrepant()
    assert desk.refused("refuse_documents", 1, sender=BENEFICIARY) == \
        "only the applicant may refuse the documents"
    outcome = desk.credit.call("refuse_documents", 1, sender=APPLICANT)
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "documents_refused", {"credit_id": 1}),
        ("token", "transfer", {"from": CREDIT, "to": APPLICANT, "amount": AMOUNT}),
        ("letter_of_credit", "funds_returned", {"credit_id": 1, "applicant": APPLICANT,
                                                "amount": AMOUNT}),
    ]
    assert desk.state() == "refunded"
    assert desk.balances() == (FUNDS, 0, 0)
    for method in ("waive_discrepancies", "refuse_documents"):
        assert desk.refused(method, 1, sender=APPLICANT) == "credit is not in state discrepant"


def test_waiver_outside_discrepant_state_is_refused(desk: Desk) -> None:
    desk.presented()
    assert desk.refused("waive_discrepancies", 1, sender=APPLICANT) == \
        "credit is not in state discrepant"


# --- expiry ---------------------------------------------------------------------------


def test_anyone_returns_the_funds_of_an_expired_credit(desk: Desk) -> None:
    desk.issued(expiry_in=5)
    assert desk.refused("expire_credit", 1, sender=STRANGER) == "credit has not expired yet"
    desk.chain.advance(10)
    outcome = desk.credit.call("expire_credit", 1, sender=STRANGER)
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "credit_expired", {"credit_id": 1}),
        ("token", "transfer", {"from": CREDIT, "to": APPLICANT, "amount": AMOUNT}),
        ("letter_of_credit", "funds_returned", {"credit_id": 1, "applicant": APPLICANT,
                                                "amount": AMOUNT}),
    ]
    assert desk.state() == "expired" and desk.balances() == (FUNDS, 0, 0)
    assert desk.refused("expire_credit", 1, sender=STRANGER) == \
        "only an issued or discrepant credit can expire"


def test_a_discrepant_credit_expires_but_a_presented_one_does_not(desk: Desk) -> None:
    desk.discrepant()
    desk.presented()
    desk.chain.advance(40)
    assert desk.refused("expire_credit", 2, sender=STRANGER) == \
        "only an issued or discrepant credit can expire"
    assert desk.credit.call("expire_credit", 1, sender=STRANGER).ok
    assert desk.state(1) == "expired"
    # the timely presentation is still examined after expiry
    assert desk.credit.call("examine", 2, True, sender=BANK).ok
    assert desk.balances() == (FUNDS - AMOUNT, AMOUNT, 0)


# --- amendments -----------------------------------------------------------------------


def test_an_accepted_increase_escrows_the_difference(desk: Desk) -> None:
    desk.issued(expiry_in=5)
    new_expiry = desk.chain.height + 50
    assert desk.refused("propose_amendment", 1, 7_000, new_expiry, sender=BENEFICIARY) == \
        "only the applicant or the issuing bank may propose an amendment"
    outcome = desk.credit.call("propose_amendment", 1, 7_000, new_expiry, sender=BANK)
    assert desk.chain.events(outcome) == [("letter_of_credit", "amendment_proposed", {
        "credit_id": 1, "proposer": BANK, "amount": 7_000, "expiry_height": new_expiry})]
    record = desk.record()
    assert (record["amount"], record["amendment_pending"], record["amendment_amount"]) == \
        (AMOUNT, True, 7_000)
    assert desk.refused("accept_amendment", 1, sender=APPLICANT) == \
        "only the beneficiary may accept an amendment"
    outcome = desk.credit.call("accept_amendment", 1, sender=BENEFICIARY)
    assert desk.chain.events(outcome) == [
        ("token", "transfer", {"from": APPLICANT, "to": CREDIT, "amount": 2_000}),
        ("letter_of_credit", "amendment_accepted", {"credit_id": 1, "amount": 7_000,
                                                    "expiry_height": new_expiry}),
    ]
    record = desk.record()
    assert (record["amount"], record["expiry_height"], record["amendment_pending"]) == \
        (7_000, new_expiry, False)
    assert desk.balances() == (FUNDS - 7_000, 0, 7_000)
    # the extended expiry lets a later presentation through
    desk.chain.advance(10)
    assert desk.present(1).ok
    assert desk.credit.call("examine", 1, True, sender=BANK).ok
    assert desk.balances() == (FUNDS - 7_000, 7_000, 0)


def test_an_accepted_decrease_returns_the_difference(desk: Desk) -> None:
    desk.issued()
    expiry = desk.record()["expiry_height"]
    assert desk.credit.call("propose_amendment", 1, 1_000, expiry, sender=APPLICANT).ok
    outcome = desk.credit.call("accept_amendment", 1, sender=BENEFICIARY)
    assert desk.chain.events(outcome)[0] == (
        "token", "transfer", {"from": CREDIT, "to": APPLICANT, "amount": AMOUNT - 1_000})
    assert desk.balances() == (FUNDS - 1_000, 0, 1_000)


def test_an_unfunded_increase_cannot_be_accepted(desk: Desk) -> None:
    desk.issued()
    expiry = desk.record()["expiry_height"]
    assert desk.credit.call("propose_amendment", 1, FUNDS + 1, expiry, sender=APPLICANT).ok
    assert desk.refused("accept_amendment", 1, sender=BENEFICIARY) == \
        "escrow failed: aborted: allowance exceeded"
    record = desk.record()
    assert (record["amount"], record["amendment_pending"]) == (AMOUNT, True)
    assert desk.balances() == (FUNDS - AMOUNT, 0, AMOUNT)


def test_amendment_rejection_and_validation(desk: Desk) -> None:
    desk.request()
    expiry = desk.chain.height + 30
    assert desk.refused("propose_amendment", 1, 6_000, expiry, sender=APPLICANT) == \
        "credit is not in state issued"
    assert desk.credit.call("issue_credit", 1, sender=BANK).ok
    assert desk.refused("propose_amendment", 1, 0, expiry, sender=APPLICANT) == \
        "amount must be positive"
    assert desk.refused("propose_amendment", 1, 6_000, desk.chain.height, sender=BANK) == \
        "expiry must be after the current height"
    assert desk.refused("accept_amendment", 1, sender=BENEFICIARY) == "no amendment is pending"
    assert desk.refused("reject_amendment", 1, sender=BENEFICIARY) == "no amendment is pending"
    assert desk.credit.call("propose_amendment", 1, 6_000, expiry, sender=APPLICANT).ok
    assert desk.refused("reject_amendment", 1, sender=BANK) == \
        "only the beneficiary may reject an amendment"
    outcome = desk.credit.call("reject_amendment", 1, sender=BENEFICIARY)
    assert desk.chain.events(outcome) == [
        ("letter_of_credit", "amendment_rejected", {"credit_id": 1})]
    record = desk.record()
    assert (record["amount"], record["amendment_pending"]) == (AMOUNT, False)


def test_an_amendment_whose_expiry_passed_cannot_be_accepted(desk: Desk) -> None:
    desk.issued(expiry_in=40)
    assert desk.credit.call("propose_amendment", 1, AMOUNT, desk.chain.height + 3,
                            sender=BANK).ok
    desk.chain.advance(5)
    assert desk.refused("accept_amendment", 1, sender=BENEFICIARY) == \
        "the amended expiry has passed"


def test_presenting_under_the_original_terms_rejects_a_pending_amendment(desk: Desk) -> None:
    desk.issued()
    assert desk.credit.call("propose_amendment", 1, 9_000, desk.chain.height + 30,
                            sender=APPLICANT).ok
    outcome = desk.present(1)
    assert [topic for _, topic, _ in desk.chain.events(outcome)] == \
        ["amendment_rejected", "documents_presented"]
    record = desk.record()
    assert (record["amount"], record["amendment_pending"], record["state"]) == \
        (AMOUNT, False, 3)
