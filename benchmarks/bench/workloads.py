"""Workloads: deterministic generators of zone-contract transactions.

A ``Workload`` is a genesis (the contracts it needs, each at the address of
its deployer's first transaction, ``contract_address(deployer, 0)``), the
same contracts as deploy transactions (``deploys``: a network target cannot
be given a genesis, so it deploys them first, each deployer's nonce 0, and
gets the same addresses), SETUP phases (funding and approvals, run to completion before
anything is timed; each phase after the previous one has committed) and the
measured FLOWS. A flow is a short business process: a token transfer is one
step; a letter of credit is four steps by three parties, each of which needs
the previous one committed (``dependent``), and later steps take their
arguments (the credit id) from earlier receipts, through the flow's
``context``. Nonces are not part of a step: the load generator assigns them
in the order it sends.

Every key comes from the seed and a role name (``derive_key``), every amount
and counterparty from ``random.Random(seed)``: the same seed and size give
the same transactions. The workloads:

    transfer   token transfers among many funded senders (each sender's txs
               use its own nonces, so there is no contention between senders)
    hot        the same, but every transfer pays ONE receiver (a hot account
               written by every transaction: what an exchange deposit address
               sees). One hot SENDER is not offered: the mempool caps a sender
               at SENDER_TXS_MAX pending txs on purpose.
    loc        the letter-of-credit lifecycle: request (applicant), issue
               (bank, escrows the amount), present documents (beneficiary),
               examine as compliant (bank, pays the beneficiary)
    dvp        delivery versus payment: buyer and seller instruct the same
               trade; the matching instruction settles both legs
    xborder    cross-border payment: the sender bank creates a payment against
               an FX quote (cleared, escrowed), the FX provider settles it
    mix        the four above interleaved, a quarter of the transactions each
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

from zonechain.contracts.toolchain import BuildResult, build_contract
from zonechain.node.crypto import PrivateKey
from zonechain.node.ledger import GenesisContract
from zonechain.node.types.address import contract_address
from zonechain.node.types.receipt import Receipt

CHAIN_ID: Final = "zonechain-bench"
ZONE: Final = "payments"
"""The devnet's open zone (any key may deploy and call); the ledger target allows all zones."""
DEPLOY_GAS: Final = 50_000_000
"""A zone contract's deploy and init, with room to spare."""
TRANSFER_GAS: Final = 200_000
"""A zone-token transfer uses well under this; a block of 5,000 stays under the block gas."""
ZONE_CALL_GAS: Final = 400_000
"""Zone-contract calls use 17-121k gas (benchmarks/RESULTS.md): 3x headroom."""
FUNDS: Final = 10**15
"""Each funded party's balance: never runs out in a benchmark."""
WORKLOADS: Final = ("transfer", "hot", "loc", "dvp", "xborder", "mix")
CONTRACTS_DIR: Final = Path(__file__).resolve().parents[2] / "contracts" / "zones"
LOC_EXPIRY_HEIGHT: Final = 10**9
"""Far beyond any benchmark's height: credits never expire mid-run."""
EUR_USD: Final = 1_085_000_000
"""An FX rate with the contract's 9 decimals (1.085)."""
BANKS_PER_LANE_GROUP: Final = 50
"""One bank (issuer of credits, FX provider) per 50 lanes: each has at most
~50 pending txs, far below the mempool's per-sender cap (256)."""

ArgsSource = bytes | Callable[[dict[str, object]], bytes]
"""Encoded arguments, or a function of the flow's context giving them at send time."""


class WorkloadError(ValueError):
    """Unknown workload or impossible size."""


@dataclass(frozen=True)
class Step:
    """One transaction of a flow (its nonce is assigned when it is sent)."""

    key: PrivateKey
    contract: bytes
    method: str
    args: ArgsSource
    gas_limit: int
    on_receipt: Callable[[Receipt, dict[str, object]], None] | None = None
    deploy_code: bytes | None = None
    """Set: the step deploys this code with ``args`` as its init arguments."""

    def encoded_args(self, context: dict[str, object]) -> bytes:
        return self.args if isinstance(self.args, bytes) else self.args(context)


@dataclass
class Flow:
    """A business process: its steps, and whether each waits for the previous commit."""

    kind: str
    steps: tuple[Step, ...]
    dependent: bool = False
    context: dict[str, object] = field(default_factory=dict)


@dataclass
class Workload:
    name: str
    seed: int
    genesis_contracts: list[GenesisContract] = field(default_factory=list)
    deploys: list[Flow] = field(default_factory=list)
    setup: list[list[Flow]] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)

    @property
    def tx_count(self) -> int:
        return sum(len(flow.steps) for flow in self.flows)

    @property
    def setup_tx_count(self) -> int:
        return sum(len(flow.steps) for phase in self.setup for flow in phase)


# ---- keys, addresses, builds -------------------------------------------------------


def derive_key(seed: int, role: str) -> PrivateKey:
    """The key of ``role`` (e.g. "transfer/sender/17") for ``seed``."""
    return PrivateKey.from_seed(hashlib.sha256(f"zonechain-bench/{seed}/{role}".encode()).digest())


@cache
def contract_build(name: str) -> BuildResult:
    """A zone contract, built once per process by the toolchain."""
    return build_contract(CONTRACTS_DIR / name)


def call(key: PrivateKey, contract: bytes, build: str, method: str, *args: object,
         gas_limit: int = ZONE_CALL_GAS) -> Step:
    """A step with its arguments encoded now."""
    encoded = contract_build(build).abi.method(method).encode_args(*args)
    return Step(key, contract, method, encoded, gas_limit)


class _Builder:
    """What every workload shares: the seed, a name prefix, the rng, genesis tokens."""

    def __init__(self, workload: Workload, prefix: str) -> None:
        self.workload = workload
        self.prefix = prefix
        self.seed = workload.seed
        self.rng = random.Random(f"{workload.seed}/{prefix}")

    def key(self, role: str) -> PrivateKey:
        return derive_key(self.seed, f"{self.prefix}/{role}")

    def keys(self, role: str, count: int) -> list[PrivateKey]:
        return [self.key(f"{role}/{index}") for index in range(count)]

    def token(self, label: str, issuer: PrivateKey, symbol: str) -> bytes:
        init = contract_build("token").abi.method("init").encode_args(label, symbol, 2)
        return self.contract("token", issuer, init)

    def contract(self, build: str, deployer: PrivateKey, init: bytes = b"") -> bytes:
        """Deploy ``build`` as ``deployer``'s first transaction (each deployer deploys once)."""
        address = contract_address(deployer.address, 0)
        code = contract_build(build).code
        self.workload.genesis_contracts.append(GenesisContract(
            address, code, ZONE, deployer.address, init))
        self.workload.deploys.append(Flow("deploy", (
            Step(deployer, address, "", init, DEPLOY_GAS, deploy_code=code),)))
        return address

    def phase(self, index: int) -> list[Flow]:
        while len(self.workload.setup) <= index:
            self.workload.setup.append([])
        return self.workload.setup[index]

    def fund(self, token: bytes, issuer: PrivateKey, holders: list[PrivateKey],
             spender: bytes | None = None) -> None:
        """Phase 0: mint FUNDS to each holder; phase 1: each approves ``spender``."""
        for holder in holders:
            self.phase(0).append(Flow("setup", (call(issuer, token, "token", "mint",
                                                     holder.address, FUNDS),)))
            if spender is not None:
                self.phase(1).append(Flow("setup", (call(holder, token, "token", "approve",
                                                         spender, FUNDS),)))


# ---- the workloads -------------------------------------------------------------------


def _transfers(builder: _Builder, count: int, senders: int, hot: bool) -> None:
    issuer = builder.key("issuer")
    token = builder.token("Bench Deposit", issuer, "BND")
    keys = builder.keys("sender", max(min(senders, count), 1))
    builder.fund(token, issuer, keys)
    hot_receiver = builder.key("hot-receiver").address
    for index in range(count):
        sender = keys[index % len(keys)]
        receiver = hot_receiver if hot else builder.rng.choice(keys).address
        step = call(sender, token, "token", "transfer", receiver, builder.rng.randint(1, 100),
                    gas_limit=TRANSFER_GAS)
        builder.workload.flows.append(Flow("hot" if hot else "transfer", (step,)))


def _lanes(flows: int) -> int:
    return max(min(flows, 200), 1)


def _letters_of_credit(builder: _Builder, flows: int) -> None:
    central_bank, deployer = builder.key("central-bank"), builder.key("deployer")
    currency = builder.token("Euro Deposit", central_bank, "EURD")
    credit = builder.contract("letter_of_credit", deployer)
    lanes = _lanes(flows)
    applicants, beneficiaries = builder.keys("applicant", lanes), builder.keys("beneficiary", lanes)
    banks = builder.keys("bank", max(lanes // BANKS_PER_LANE_GROUP, 1))
    builder.fund(currency, central_bank, applicants, spender=credit)
    documents = tuple(bytes([n]) * 32 for n in (0x11, 0x22, 0x33, 0x44))

    def credit_id(receipt: Receipt, context: dict[str, object]) -> None:
        method = contract_build("letter_of_credit").abi.method("request_credit")
        context["credit_id"] = int(method.decode_result(receipt.return_data))

    def later(method: str, *tail: object) -> ArgsSource:
        encoder = contract_build("letter_of_credit").abi.method(method)
        return lambda context: encoder.encode_args(context["credit_id"], *tail)

    for index in range(flows):
        lane = index % lanes
        applicant, beneficiary = applicants[lane], beneficiaries[lane]
        bank = banks[lane % len(banks)]
        request = call(applicant, credit, "letter_of_credit", "request_credit", bank.address,
                       beneficiary.address, currency, builder.rng.randint(100, 10_000),
                       LOC_EXPIRY_HEIGHT, 0b1111)
        steps = (
            Step(request.key, credit, request.method, request.args, ZONE_CALL_GAS, credit_id),
            Step(bank, credit, "issue_credit", later("issue_credit"), ZONE_CALL_GAS),
            Step(beneficiary, credit, "present_documents",
                 later("present_documents", *documents), ZONE_CALL_GAS),
            Step(bank, credit, "examine", later("examine", True), ZONE_CALL_GAS),
        )
        builder.workload.flows.append(Flow("loc", steps, dependent=True))


def _delivery_versus_payment(builder: _Builder, flows: int) -> None:
    issuer, central_bank = builder.key("issuer"), builder.key("central-bank")
    security = builder.token("ACME shares", issuer, "ACME")
    cash = builder.token("Euro Deposit", central_bank, "EURD")
    dvp = builder.contract("equity_settlement", builder.key("deployer"))
    lanes = _lanes(flows)
    buyers, sellers = builder.keys("buyer", lanes), builder.keys("seller", lanes)
    builder.fund(security, issuer, sellers, spender=dvp)
    builder.fund(cash, central_bank, buyers, spender=dvp)
    buy, sell = 1, 2
    for index in range(flows):
        lane = index % lanes
        trade = hashlib.sha256(f"{builder.seed}/{builder.prefix}/trade/{index}".encode()).digest()
        quantity, price = builder.rng.randint(1, 100), builder.rng.randint(1, 50)
        steps = (
            call(buyers[lane], dvp, "equity_settlement", "instruct", trade, buy, security,
                 quantity, price, cash, sellers[lane].address),
            call(sellers[lane], dvp, "equity_settlement", "instruct", trade, sell, security,
                 quantity, price, cash, buyers[lane].address),
        )
        builder.workload.flows.append(Flow("dvp", steps))


def _cross_border(builder: _Builder, flows: int) -> None:
    ecb, fed, admin = builder.key("ecb"), builder.key("fed"), builder.key("admin")
    eur, usd = builder.token("Euro Deposit", ecb, "EURD"), builder.token("Dollar", fed, "USDD")
    gateway = builder.contract("cross_border_payment", admin)
    lanes = _lanes(flows)
    senders = builder.keys("sender-bank", lanes)
    providers = builder.keys("fx", max(lanes // BANKS_PER_LANE_GROUP, 1))
    builder.fund(eur, ecb, senders, spender=gateway)
    builder.fund(usd, fed, providers, spender=gateway)
    build = "cross_border_payment"
    builder.phase(0).append(Flow("setup", (
        call(admin, gateway, build, "set_regulator", builder.key("regulator").address),
        *(call(admin, gateway, build, "register_fx_provider", fx.address) for fx in providers),
    ), dependent=True))
    quotes: dict[int, int] = {}
    for number, fx in enumerate(providers):
        def remember(receipt: Receipt, context: dict[str, object], number: int = number) -> None:
            method = contract_build(build).abi.method("post_quote")
            quotes[number] = int(method.decode_result(receipt.return_data))
        quote = call(fx, gateway, build, "post_quote", eur, usd, EUR_USD, LOC_EXPIRY_HEIGHT)
        builder.phase(2).append(Flow("setup", (
            Step(fx, gateway, "post_quote", quote.args, ZONE_CALL_GAS, remember),)))

    def payment_id(receipt: Receipt, context: dict[str, object]) -> None:
        method = contract_build(build).abi.method("create_payment")
        context["payment_id"] = int(method.decode_result(receipt.return_data))

    create = contract_build(build).abi.method("create_payment")
    settle = contract_build(build).abi.method("settle_payment")
    for index in range(flows):
        lane = index % lanes
        number = lane % len(providers)
        beneficiary = builder.key(f"beneficiary/{lane}").address
        amount = builder.rng.randint(100, 10_000)

        def create_args(context: dict[str, object], beneficiary: bytes = beneficiary,
                        amount: int = amount, number: int = number) -> bytes:
            return create.encode_args(beneficiary, amount, quotes[number])

        steps = (
            Step(senders[lane], gateway, "create_payment", create_args, ZONE_CALL_GAS,
                 payment_id),
            Step(providers[number], gateway, "settle_payment",
                 lambda context: settle.encode_args(context["payment_id"]), ZONE_CALL_GAS),
        )
        builder.workload.flows.append(Flow("xborder", steps, dependent=True))


STEPS_PER_FLOW: Final = {"transfer": 1, "hot": 1, "loc": 4, "dvp": 2, "xborder": 2}


def _add(workload: Workload, kind: str, txs: int, senders: int) -> None:
    builder = _Builder(workload, kind)
    flows = max(txs // STEPS_PER_FLOW[kind], 1)
    if kind in ("transfer", "hot"):
        _transfers(builder, flows, senders, hot=kind == "hot")
    elif kind == "loc":
        _letters_of_credit(builder, flows)
    elif kind == "dvp":
        _delivery_versus_payment(builder, flows)
    else:
        _cross_border(builder, flows)


def make_workload(name: str, txs: int, seed: int, senders: int = 1_000) -> Workload:
    """The workload ``name`` with about ``txs`` measured transactions."""
    if name not in WORKLOADS:
        raise WorkloadError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    if txs < 1 or senders < 1:
        raise WorkloadError("--txs and --senders must be >= 1")
    workload = Workload(name, seed)
    if name != "mix":
        _add(workload, name, txs, senders)
        return workload
    parts = ("transfer", "loc", "dvp", "xborder")
    for kind in parts:
        _add(workload, kind, max(txs // len(parts), 1), senders)
    # Interleave the flows of the four kinds deterministically (seeded shuffle).
    random.Random(f"{seed}/mix").shuffle(workload.flows)
    return workload
