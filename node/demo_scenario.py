"""The pilot scenario that `zonechain demo` plays on a local 4-validator devnet.

    network = PilotNetwork.create(directory)        # init + pilot genesis, nodes not started
    with network.devnet:                            # 4 validator processes
        pilot = Pilot(client, parties, builds, report=print_step, verifier=verifier)
        pilot.run()                                 # every step, or DemoFailed

Guarantees:
- the network's genesis carries the pilot permissions template
  (node/genesis_zones.json), written through the same API as
  ``zonechain init --permissions pilot`` (``init_cli.permissions_section`` /
  ``with_permissions``): its organisations and zones, the validators owned
  by the central bank, plus the scenario's business parties as ``client``
  members of their banks; every party's key is generated here and held only
  in memory (nothing the demo signs with is written to disk);
- the regulator's compliance officer is NOT in genesis: network governance
  adds it (one ``add_member`` proposal, then admins' approvals until the
  network policy, MAJORITY admin, executes it) before it sets the payment
  limits;
- the steps are the contract tests' call sequences
  (tests/contracts/test_letter_of_credit.py, test_equity_settlement.py,
  test_cross_border_payment.py) sent as signed transactions through the SDK
  into the zones whose policies admit each party;
- every committed step is reported (``StepRecord``: height, gas, receipt
  status) as it happens; the one step meant to be refused must be refused by
  the zone policy, and its message names the rule;
- a step that does not end as expected raises ``DemoFailed`` carrying one
  line that says which step and why; SDK errors never escape as tracebacks;
- the closing balance check reads a raw state key with a Merkle proof and
  checks it against a header whose commit certificate more than 2/3 of the
  genesis validators signed (``zonechain.sdk.verify``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import zonechain.contracts
from zonechain.contracts.abi import Event, Param, parse_type
from zonechain.contracts.toolchain import BuildResult, build_contract
from zonechain.node.cli import UserError
from zonechain.node.config import GenesisAccount, JsonValue, load_genesis
from zonechain.node.init_cli import (
    GENESIS_FILE,
    permissions_section,
    rewrite_genesis,
    with_permissions,
)
from zonechain.node.node_cli import Devnet, find_base_port
from zonechain.node.permissions.genesis import load_template, template_account_names
from zonechain.node.permissions.governance import GOVERNANCE_ADDRESS, PROPOSAL_LIFETIME_MAX
from zonechain.node.types.receipt import Receipt
from zonechain.sdk import (
    CallOutcome,
    Client,
    Contract,
    GovernanceResult,
    Key,
    MempoolRejected,
    PermissionDenied,
    Verifier,
    ZonechainError,
    governance,
)
from zonechain.sdk.contract import init_arguments
from zonechain.vm.state import contract_storage_key

VALIDATORS: Final = 4
ADDRESS_SHOWN: Final = 12
"""Leading characters of a contract's zc... address shown in a step line."""

ZONES_DIR: Final = Path(zonechain.contracts.__file__).resolve().parent / "zones"
CONTRACTS: Final = ("token", "letter_of_credit", "equity_settlement", "cross_border_payment")

TRADE_FINANCE: Final = "trade-finance"
EQUITY_MARKET: Final = "equity-market"
CROSS_BORDER: Final = "cross-border-finance"

DEPLOY_GAS: Final = 50_000_000
"""Deploy gas limit: instantiation plus storing ~20 KiB of code, with room to spare."""

EXPIRY_BLOCKS: Final = 10_000
"""Letter-of-credit and quote lifetimes in blocks: an idle devnet commits a few
blocks a second, so this outlives the demo many times over."""

# Business parties added to the template's organisations (name, organisation, roles).
EXTRA_MEMBERS: Final = (
    ("importer", "bank-a", ("client",)),
    ("investor", "bank-a", ("client",)),
    ("exporter", "bank-b", ("client",)),
    ("fund", "bank-b", ("client",)),
)
VALIDATOR_OWNER: Final = "central-bank"

# The member onboarded by network governance during the demo (not in genesis).
ONBOARDED: Final = ("compliance-officer", "regulator", ("regulator", "client"))
PROPOSER: Final = "regulator-admin"
APPROVERS: Final = ("central-bank-admin", "bank-a-admin", "bank-b-admin", "customs-admin",
                    "tax-bureau-admin", "court-admin", "public-security-admin",
                    "health-commission-admin", "civil-affairs-admin")
"""Admins asked in turn until the network policy (MAJORITY admin) is met."""
PROPOSAL_LIFETIME_BLOCKS: Final = min(1_000, PROPOSAL_LIFETIME_MAX)
NETWORK_SCOPE: Final = "network"

# The scenario's figures, as in the contract tests (amounts in the tokens' units).
LC_FUNDS, LC_AMOUNT = 10_000_00, 5_000_00
ALL_DOCUMENTS: Final = 0b1111
DOCUMENTS: Final = tuple(bytes([n]) * 32 for n in (0x11, 0x22, 0x33, 0x44))
TRADE_ID: Final = b"\x77" * 32
BUY, SELL = 1, 2
SHARES, QUANTITY, PRICE = 1_000, 100, 25_00
INVESTOR_CASH: Final = 1_000_000_00
RATE_SCALE: Final = 10**9
EUR_USD: Final = 1_085_000_000
XB_EUR_FUNDS, XB_USD_FUNDS, XB_AMOUNT = 100_000_00, 1_000_000_00, 10_000_00
XB_PER_TRANSACTION_MAX, XB_DAILY_MAX = 50_000_00, 100_000_00
CONVERTED: Final = XB_AMOUNT * EUR_USD // RATE_SCALE

BALANCE_PREFIX: Final = b"bal:"
"""The token's storage key prefix of a balance (contracts/zones/token/token.zig)."""
U128_BYTES: Final = 16

PROOF_WAIT_S: Final = 30.0
"""How long the verified read waits for the block after the last step (a few
block intervals; generous on a loaded machine)."""
POLL_S: Final = 0.1

LC_STATES: Final = {1: "requested", 2: "issued", 3: "presented", 4: "discrepant", 5: "paid",
                    6: "refunded", 7: "expired", 8: "cancelled"}
INSTRUCTION_STATES: Final = {1: "pending", 2: "settled", 3: "cancelled"}
PAYMENT_STATES: Final = {1: "initiated", 2: "compliance_cleared", 3: "settled", 4: "rejected",
                         5: "refunded"}


def _record(name: str, fields: list[tuple[str, str]]) -> Event:
    return Event(name, tuple(Param(field, parse_type(kind)) for field, kind in fields))


CREDIT_RECORD: Final = _record("credit", [
    ("state", "u8"), ("applicant", "address"), ("issuing_bank", "address"),
    ("beneficiary", "address"), ("currency", "address"), ("amount", "u128"),
    ("expiry_height", "u64"), ("required_documents", "u8"), ("presented_documents", "u8"),
    ("bill_of_lading", "hash"), ("invoice", "hash"), ("packing_list", "hash"),
    ("certificate_of_origin", "hash"), ("amendment_pending", "bool"),
    ("amendment_amount", "u128"), ("amendment_expiry", "u64"),
])
INSTRUCTION_RECORD: Final = _record("instruction", [
    ("state", "u8"), ("submitter", "address"), ("counterparty", "address"),
    ("security", "address"), ("quantity", "u128"), ("price", "u128"), ("cash", "address"),
    ("submitted_height", "u64"),
])
PAYMENT_RECORD: Final = _record("payment", [
    ("state", "u8"), ("reason", "u8"), ("sender", "address"), ("beneficiary", "address"),
    ("quote_id", "u64"), ("fx_provider", "address"), ("source_token", "address"),
    ("target_token", "address"), ("source_amount", "u128"), ("target_amount", "u128"),
    ("created_height", "u64"), ("created_time_ms", "u64"),
])


class DemoFailed(Exception):
    """A step of the demo did not end as expected; the message is one line."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step as the demo reports it (height/gas are None for a step refused at the door)."""

    scenario: str
    action: str
    actor: str
    zone: str
    height: int | None
    gas_used: int | None
    status: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FinalState:
    """A scenario's end state: a short ``outcome`` for the summary, the full line in ``text``."""

    scenario: str
    outcome: str
    text: str


Reporter = Callable[[StepRecord], None]


def amount_text(units: int, decimals: int) -> str:
    """``units`` of a token with ``decimals`` as a grouped decimal (e.g. 500000, 2 -> 5,000.00)."""
    if decimals == 0:
        return f"{units:,}"
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole:,}.{fraction:0{decimals}d}"


# ---- the network -------------------------------------------------------------------


def pilot_section(validators: list[str]) -> tuple[
        tuple[JsonValue, ...], tuple[JsonValue, ...]]:
    """(zones, organisations) of the template, with the demo's parties and validators.

    The same section `zonechain init --permissions pilot` writes
    (``init_cli.permissions_section``), plus the business parties.
    """
    extra: dict[str, list[JsonValue]] = {}
    for name, owner, roles in EXTRA_MEMBERS:
        extra.setdefault(owner, []).append({"account": name, "roles": list(roles)})
    try:
        return permissions_section(load_template(), validators, extra)
    except UserError as error:
        raise DemoFailed(f"the pilot genesis template: {error}") from None


def party_names() -> list[str]:
    """Every account the pilot genesis names: the template's and the demo's parties."""
    names = set(template_account_names(load_template()))
    names.update(name for name, _, _ in EXTRA_MEMBERS)
    names.add(ONBOARDED[0])
    return sorted(names)


@dataclass
class PilotNetwork:
    """A devnet directory initialised with the pilot genesis, and the parties' keys."""

    devnet: Devnet
    keys: dict[str, Key]
    verifier: Verifier
    zones: int

    @classmethod
    def create(cls, directory: Path) -> PilotNetwork:
        """``zonechain init`` into ``directory`` (replacing a devnet there), pilot genesis."""
        devnet = Devnet(directory, VALIDATORS, reset=True, base_port=find_base_port(VALIDATORS))
        devnet.prepare()
        devnet.reset = False  # start() prepares again: keep the genesis written below
        keys = {name: Key.generate() for name in party_names()}
        genesis = load_genesis(devnet.directory / GENESIS_FILE)
        zones, organisations = pilot_section([v.name for v in genesis.validators])
        try:
            genesis = with_permissions(
                genesis, zones, organisations,
                [GenesisAccount(name, key.public_key) for name, key in keys.items()])
        except UserError as error:
            raise DemoFailed(f"the pilot genesis: {error}") from None
        rewrite_genesis(devnet.directory, genesis)
        verifier = Verifier.from_public_keys(
            genesis.chain_id, [(v.public_key, v.power) for v in genesis.validators])
        return cls(devnet, keys, verifier, len(zones))


def build_all() -> dict[str, BuildResult]:
    """The token and the three zone contracts, built from source (Zig caches the compiler)."""
    return {name: build_contract(ZONES_DIR / name) for name in CONTRACTS}


# ---- the scenario ------------------------------------------------------------------


class Pilot:
    """Plays the pilot on a running network; see the module docstring."""

    def __init__(self, client: Client, keys: dict[str, Key], builds: dict[str, BuildResult],
                 report: Reporter, verifier: Verifier) -> None:
        self.client = client
        self.keys = keys
        self.builds = builds
        self.report = report
        self.verifier = verifier
        self.contracts: dict[str, Contract] = {}
        self.finals: list[FinalState] = []
        self.records: list[StepRecord] = []

    def address(self, party: str) -> bytes:
        return self.keys[party].address

    # ---- steps -------------------------------------------------------------------

    def _record(self, record: StepRecord) -> None:
        self.records.append(record)
        self.report(record)

    def _committed(self, scenario: str, action: str, actor: str, zone: str,
                   receipt: Receipt, detail: str) -> None:
        info = self.client.get_transaction(receipt.tx_hash)
        height = None if info is None or info.pending else info.height
        self._record(StepRecord(scenario, action, actor, zone, height, receipt.gas_used,
                                receipt.status.name.lower(), detail))

    def deploy(self, scenario: str, label: str, contract: str, actor: str, zone: str,
               *init_args: object) -> Contract:
        build = self.builds[contract]
        key = self.keys[actor]
        try:
            receipt = self.client.deploy(key, build.code,
                                         init_arguments(build.abi, init_args, {}),
                                         zone=zone, gas_limit=DEPLOY_GAS)
        except ZonechainError as error:
            raise DemoFailed(f"{scenario}: deploy {label} as {actor} in {zone}: "
                             f"{type(error).__name__}: {error}") from None
        if receipt.created_contract is None:
            raise DemoFailed(f"{scenario}: deploy {label}: the receipt names no contract")
        proxy = Contract(self.client, receipt.created_contract, build.abi, zone=zone)
        self.contracts[label] = proxy
        address = proxy.address_text
        self._committed(scenario, f"deploy {label} ({contract})", actor, zone, receipt,
                        f"at {address[:ADDRESS_SHOWN]}...{address[-4:]}")
        return proxy

    def call(self, scenario: str, label: str, method: str, actor: str,
             *args: object) -> CallOutcome:
        proxy = self.contracts[label]
        signed = Contract(self.client, proxy.address, proxy.abi, key=self.keys[actor],
                          zone=proxy.zone)
        try:
            outcome: CallOutcome = signed.call(method, *args)
        except ZonechainError as error:
            raise DemoFailed(f"{scenario}: {label}.{method} as {actor}: "
                             f"{type(error).__name__}: {error}") from None
        events = ", ".join(event.name for event in outcome.events)
        assert proxy.zone is not None
        self._committed(scenario, f"{label}.{method}", actor, proxy.zone, outcome.receipt,
                        events)
        return outcome

    def query(self, label: str, method: str, *args: object) -> Any:
        try:
            return self.contracts[label].call(method, *args)
        except ZonechainError as error:
            raise DemoFailed(f"query {label}.{method}: {type(error).__name__}: {error}") from None

    def balance(self, token: str, party: str | bytes) -> int:
        owner = self.address(party) if isinstance(party, str) else party
        return int(self.query(token, "balance_of", owner))

    def expect(self, scenario: str, condition: bool, what: str) -> None:
        if not condition:
            raise DemoFailed(f"{scenario}: {what}")

    # ---- the whole pilot ---------------------------------------------------------

    def run(self) -> list[FinalState]:
        self.issue_currencies()
        self.letter_of_credit()
        self.equity_settlement()
        self.onboard_compliance_officer()
        self.cross_border_payment()
        self.refused_deploy()
        return self.finals

    def issue_currencies(self) -> None:
        scenario = "setup"
        self.deploy(scenario, "EURD", "token", "central-bank-ops", CROSS_BORDER,
                    "Euro Deposit", "EURD", 2)
        self.deploy(scenario, "USDD", "token", "central-bank-ops", CROSS_BORDER,
                    "Dollar Deposit", "USDD", 2)
        self.deploy(scenario, "ACME", "token", "bank-b-ops", EQUITY_MARKET,
                    "ACME shares", "ACME", 0)
        self.deploy(scenario, "LC", "letter_of_credit", "bank-a-ops", TRADE_FINANCE)
        self.deploy(scenario, "DVP", "equity_settlement", "bank-a-ops", EQUITY_MARKET)
        self.deploy(scenario, "XBP", "cross_border_payment", "central-bank-ops", CROSS_BORDER)
        self.finals.append(FinalState(scenario, "deployed", "deployed " + ", ".join(
            f"{label} in {proxy.zone}" for label, proxy in self.contracts.items())))

    def letter_of_credit(self) -> None:
        scenario = "letter of credit"
        credit = self.contracts["LC"].address
        eurd = self.contracts["EURD"].address
        self.call(scenario, "EURD", "mint", "central-bank-ops", self.address("importer"),
                  LC_FUNDS)
        self.call(scenario, "EURD", "approve", "importer", credit, LC_FUNDS)
        expiry = self.client.status().height + EXPIRY_BLOCKS
        outcome = self.call(scenario, "LC", "request_credit", "importer",
                            self.address("bank-a-ops"), self.address("exporter"), eurd,
                            LC_AMOUNT, expiry, ALL_DOCUMENTS)
        credit_id = int(outcome.result)
        self.call(scenario, "LC", "issue_credit", "bank-a-ops", credit_id)
        self.expect(scenario, self.balance("EURD", credit) == LC_AMOUNT,
                    "the credit's escrow does not hold the amount after issue")
        self.call(scenario, "LC", "present_documents", "exporter", credit_id, *DOCUMENTS)
        self.call(scenario, "LC", "examine", "bank-a-ops", credit_id, True)
        record = CREDIT_RECORD.decode(self.query("LC", "get_credit", credit_id))
        state = LC_STATES.get(record["state"], str(record["state"]))
        paid = self.balance("EURD", "exporter")
        self.expect(scenario, state == "paid" and paid == LC_AMOUNT,
                    f"credit #{credit_id} ended {state} with the exporter holding {paid}")
        self.finals.append(FinalState(
            scenario, state, f"letter of credit #{credit_id}: {state}; exporter received "
                      f"{amount_text(paid, 2)} EURD, escrow "
                      f"{amount_text(self.balance('EURD', credit), 2)} EURD"))

    def equity_settlement(self) -> None:
        scenario = "equity DvP"
        dvp = self.contracts["DVP"].address
        acme, eurd = self.contracts["ACME"].address, self.contracts["EURD"].address
        self.call(scenario, "ACME", "mint", "bank-b-ops", self.address("fund"), SHARES)
        self.call(scenario, "EURD", "mint", "central-bank-ops", self.address("investor"),
                  INVESTOR_CASH)
        self.call(scenario, "ACME", "approve", "fund", dvp, SHARES)
        self.call(scenario, "EURD", "approve", "investor", dvp, INVESTOR_CASH)
        self.call(scenario, "DVP", "instruct", "investor", TRADE_ID, BUY, acme, QUANTITY, PRICE,
                  eurd, self.address("fund"))
        outcome = self.call(scenario, "DVP", "instruct", "fund", TRADE_ID, SELL, acme, QUANTITY,
                            PRICE, eurd, self.address("investor"))
        settled = [event for event in outcome.events if event.name == "settled"]
        self.expect(scenario, len(settled) == 1, "matching instructions did not settle")
        record = INSTRUCTION_RECORD.decode(self.query(
            "DVP", "get_instruction", TRADE_ID, SELL, self.address("fund")))
        state = INSTRUCTION_STATES.get(record["state"], str(record["state"]))
        shares = self.balance("ACME", "investor")
        cash = self.balance("EURD", "fund")
        self.expect(scenario, shares == QUANTITY and cash == QUANTITY * PRICE,
                    f"after settlement the investor holds {shares} ACME, the fund {cash} EURD")
        self.finals.append(FinalState(
            scenario, state, f"trade {TRADE_ID.hex()[:8]}: {state} delivery-versus-payment; "
                             f"investor holds {shares} ACME, fund received "
                             f"{amount_text(cash, 2)} EURD"))

    def govern(self, scenario: str, action: str, actor: str,
               send: Callable[[Client, Key], GovernanceResult]) -> GovernanceResult:
        """One governance transaction through the SDK (``Client.propose`` / ``approve``)."""
        try:
            result = send(self.client, self.keys[actor])
        except ZonechainError as error:
            raise DemoFailed(f"{scenario}: {action} as {actor}: "
                             f"{type(error).__name__}: {error}") from None
        topics = [event.topic.decode("ascii", "replace") for event in result.receipt.events
                  if event.contract == GOVERNANCE_ADDRESS]
        # Reported as "network": adding a member is a network-wide action whatever the
        # transaction's zone field says.
        self._committed(scenario, action, actor, NETWORK_SCOPE, result.receipt,
                        ", ".join(topics))
        return result

    def onboard_compliance_officer(self) -> None:
        """Network governance adds the regulator's compliance officer: propose, approve."""
        scenario = "governance"
        name, organisation, roles = ONBOARDED
        try:
            member = governance.add_member(self.address(name), organisation, roles)
        except ZonechainError as error:
            raise DemoFailed(f"{scenario}: add_member {name}: {error}") from None
        result = self.govern(
            scenario, f"propose add_member {name} to {organisation} ({', '.join(roles)})",
            PROPOSER, lambda client, key: client.propose(
                key, member, lifetime_blocks=PROPOSAL_LIFETIME_BLOCKS))
        proposal_id = result.proposal_id
        approvals = 1
        for approver in APPROVERS:
            if result.executed:
                break
            result = self.govern(scenario, f"approve proposal #{proposal_id}", approver,
                                 lambda client, key: client.approve(key, proposal_id))
            approvals += 1
        self.expect(scenario, result.executed,
                    f"proposal #{proposal_id} did not execute after {approvals} approvals")
        self.finals.append(FinalState(
            scenario, "executed", f"proposal #{proposal_id} executed with {approvals} of "
                                  f"{1 + len(APPROVERS)} organisation admins (MAJORITY admin): "
                                  f"{name} joined {organisation} as {', '.join(roles)}"))

    def cross_border_payment(self) -> None:
        scenario = "cross-border"
        xbp = self.contracts["XBP"].address
        eurd, usdd = self.contracts["EURD"].address, self.contracts["USDD"].address
        self.call(scenario, "EURD", "mint", "central-bank-ops", self.address("bank-a-ops"),
                  XB_EUR_FUNDS)
        self.call(scenario, "USDD", "mint", "central-bank-ops", self.address("bank-b-ops"),
                  XB_USD_FUNDS)
        self.call(scenario, "EURD", "approve", "bank-a-ops", xbp, XB_EUR_FUNDS)
        self.call(scenario, "USDD", "approve", "bank-b-ops", xbp, XB_USD_FUNDS)
        self.call(scenario, "XBP", "set_regulator", "central-bank-ops",
                  self.address("compliance-officer"))
        self.call(scenario, "XBP", "register_fx_provider", "central-bank-ops",
                  self.address("bank-b-ops"))
        self.call(scenario, "XBP", "set_limits", "compliance-officer", eurd,
                  XB_PER_TRANSACTION_MAX, XB_DAILY_MAX)
        expiry = self.client.status().height + EXPIRY_BLOCKS
        quote = self.call(scenario, "XBP", "post_quote", "bank-b-ops", eurd, usdd, EUR_USD,
                          expiry)
        created = self.call(scenario, "XBP", "create_payment", "bank-a-ops",
                            self.address("exporter"), XB_AMOUNT, int(quote.result))
        payment_id = int(created.result)
        self.expect(scenario, any(event.name == "payment_cleared" for event in created.events),
                    f"payment #{payment_id} was not cleared by compliance")
        self.call(scenario, "XBP", "settle_payment", "bank-b-ops", payment_id)
        record = PAYMENT_RECORD.decode(self.query("XBP", "get_payment", payment_id))
        state = PAYMENT_STATES.get(record["state"], str(record["state"]))
        received = self.balance("USDD", "exporter")
        self.expect(scenario, state == "settled" and received == CONVERTED,
                    f"payment #{payment_id} ended {state}, the exporter holding {received} USDD")
        self.finals.append(FinalState(
            scenario, state, f"payment #{payment_id}: compliance cleared, {state}; "
                      f"{amount_text(XB_AMOUNT, 2)} EURD -> {amount_text(received, 2)} USDD "
                      f"at {EUR_USD / RATE_SCALE:.3f}"))

    def refused_deploy(self) -> str:
        """The exporter (a client of bank-b, not a deployer) tries to deploy: refused."""
        scenario = "permissions"
        build = self.builds["letter_of_credit"]
        try:
            receipt = self.client.deploy(self.keys["exporter"], build.code, b"",
                                         zone=TRADE_FINANCE, gas_limit=DEPLOY_GAS)
        except MempoolRejected as error:
            message = error.message if error.message.startswith(error.reason_code) \
                else f"{error.reason_code}: {error.message}"
            self._record(StepRecord(scenario, "deploy letter_of_credit", "exporter",
                                    TRADE_FINANCE, None, None, "refused",
                                    f"mempool: {error.reason_code}"))
        except PermissionDenied as error:
            message = f"{error.code}: {error.receipt.error_message}"
            self._committed(scenario, "deploy letter_of_credit", "exporter", TRADE_FINANCE,
                            error.receipt, f"receipt: {error.code}")
        except ZonechainError as error:
            raise DemoFailed(f"{scenario}: the unauthorised deploy failed for another reason: "
                             f"{type(error).__name__}: {error}") from None
        else:
            raise DemoFailed(f"{scenario}: the exporter's deploy was accepted "
                             f"(contract {receipt.created_contract!r}); the zone policy "
                             "should have refused it")
        self.finals.append(FinalState(scenario, "refused", f"refused: {message}"))
        return message

    # ---- the verified read -------------------------------------------------------

    def verified_balance(self, token: str, party: str) -> tuple[int, int, int, int]:
        """(balance, height, signers, validators) of a Merkle-proven balance read."""
        contract = self.contracts[token].address
        key = contract_storage_key(contract, BALANCE_PREFIX + self.address(party))
        last = max((record.height for record in self.records if record.height is not None),
                   default=0)
        self.wait_for_height(last + 1)  # a proof after height H needs header H + 1
        try:
            value = self.client.read_state(key, verify=True)
        except ZonechainError as error:
            raise DemoFailed(f"verified read of {party}'s {token} balance: "
                             f"{type(error).__name__}: {error}") from None
        if not value.verified or value.commit is None:
            raise DemoFailed(f"verified read of {party}'s {token} balance was not verified")
        raw = value.value or b""
        if len(raw) not in (0, U128_BYTES):
            raise DemoFailed(f"{party}'s {token} balance is stored as {len(raw)} bytes")
        balance = int.from_bytes(raw, "little")
        queried = self.balance(token, party)
        if balance != queried:
            raise DemoFailed(f"the proven {token} balance {balance} differs from the "
                             f"queried {queried}")
        return balance, value.height, len(value.commit.signatures), len(self.verifier.validators)


    def wait_for_height(self, height: int, timeout_s: float = PROOF_WAIT_S) -> None:
        """Poll the node's status until it has committed ``height`` (DemoFailed at the deadline)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                current = self.client.status().height
            except ZonechainError as error:
                raise DemoFailed(f"status: {type(error).__name__}: {error}") from None
            if current >= height:
                return
            if time.monotonic() > deadline:
                raise DemoFailed(f"the network did not reach height {height} within "
                                 f"{timeout_s:.0f} s (at {current})")
            time.sleep(POLL_S)  # polling interval between status calls
