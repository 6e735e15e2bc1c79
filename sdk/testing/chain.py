"""``Chain``: an in-process chain for contract tests: accounts, deploys, typed calls, blocks.

Guarantees:
- Addresses are the chain's: an account's address is ``account_address`` of
  its ed25519 key (derived from its name, so ``chain.account("alice")`` is the
  same account in every test), and a contract's is
  ``contract_address(deployer, nonce)``, exactly as a node derives them.
- Every transaction is a real signed ``Transaction`` carrying the sender's
  next nonce; the nonce is consumed whether the call succeeds or fails, as on
  the chain. A failed call or deploy changes nothing else: no storage, no
  events; its gas is reported.
- Typed calls are encoded from the contract's ABI (a value that does not fit
  raises ``AbiError`` before anything is sent) and their results and events
  are decoded with it. Decoded addresses of this chain's accounts come back as
  those ``Account`` objects (equal to their 20 address bytes).
- Height and time change only through ``advance``; every transaction runs in
  the current block. ``snapshot``/``revert`` restore state, nonces, height,
  time, known contracts and history exactly.

Execution goes through a ``Backend`` (backend.py); the default,
``ExecutorBackend`` (executor_backend.py), runs every transaction through the
ledger executor, with the zone-policy and governance hooks when the chain is
given a genesis permissions section (``permissions=``); ``backend="vm"`` runs
the VM directly. Nothing here reads a clock or the network.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from zonechain.contracts.abi import AbiError, AbiType, ContractAbi, Method
from zonechain.node.accounts import account_nonce
from zonechain.node.crypto import PrivateKey, sign_transaction
from zonechain.node.permissions.actions import Action
from zonechain.node.permissions.genesis import load_template, template_account_names
from zonechain.node.permissions.governance import (
    GOVERNANCE_ADDRESS,
    PROPOSAL_LIFETIME_MAX,
    Approve,
    Propose,
    encode_body,
)
from zonechain.node.types.address import contract_address, format_address
from zonechain.node.types.errors import MalformedMessage
from zonechain.node.types.limits import CHAIN_ID_PATTERN, ZONE_NAME_BYTES_MAX
from zonechain.node.types.transaction import (
    CallPayload,
    DeployPayload,
    GovernancePayload,
    SignedTransaction,
    Transaction,
)
from zonechain.sdk.testing.artifacts import ContractSource, load_contract, resolve_abi
from zonechain.sdk.testing.assertions import ExpectedError, assert_event
from zonechain.sdk.testing.backend import Backend, BlockInfo, Execution, VmBackend
from zonechain.sdk.testing.errors import (
    ContractFailed,
    HarnessError,
    InvalidTransaction,
)
from zonechain.sdk.testing.executor_backend import (
    ExecutorBackend,
    governance_event_fields,
    proposal_id_of,
)
from zonechain.sdk.testing.results import CallResult, ContractEvent
from zonechain.vm.host.frame import CallContext
from zonechain.vm.runtime import GAS_LIMIT_MAX
from zonechain.vm.state import ADDRESS_BYTES, PREFIX_CONTRACT_STORAGE

GENESIS_TIME_MS: Final = 1_767_225_600_000
"""2026-01-01T00:00:00Z: a fixed start, so tests never depend on the clock."""

BLOCK_INTERVAL_MS: Final = 1_000
"""Time added per block by ``advance`` unless ``ms`` is given."""

DEFAULT_GAS_LIMIT: Final = 100_000_000
"""Per transaction: enough for a deploy of a large contract and its init
(the deploy base cost plus 200 gas per code byte), small enough that a runaway
loop ends in about a second."""

QUERY_SENDER: Final = bytes(ADDRESS_BYTES)
"""The caller a query sees when none is given."""

NO_TX_HASH: Final = bytes(32)
"""The ``tx_hash`` a query sees: a query is not a transaction."""

ACCOUNT_SEED_DOMAIN: Final = b"zonechain/testing/account-seed/v1"
"""Test keys are sha256(domain + name): public knowledge, for tests only."""

BACKEND_NAMES: Final = ("executor", "vm")
"""``Chain(backend=...)`` by name: the ledger executor (default) or the bare VM."""

PERMISSIONS_TEMPLATE: Final = "template"
"""``Chain(permissions="template")``: the pilot genesis section (node/genesis_zones.json)."""


class Account(bytes):
    """A test account: its 20 address bytes, plus its ``name`` and signing ``key``."""

    name: str
    key: PrivateKey

    def __new__(cls, name: str, key: PrivateKey) -> Account:
        account = super().__new__(cls, key.address)
        account.name = name
        account.key = key
        return account

    @property
    def address(self) -> bytes:
        return bytes(self)

    @property
    def public_key(self) -> bytes:
        return self.key.public_key

    def __repr__(self) -> str:
        return f"Account({self.name!r}, {format_address(self)})"

    __str__ = __repr__

    def __copy__(self) -> Account:
        return self

    def __reduce__(self) -> tuple[Callable[[str], Account], tuple[str]]:
        return account, (self.name,)

    def __deepcopy__(self, memo: object) -> Account:
        return self


def key_for(name: str) -> PrivateKey:
    """The deterministic test key of the account called ``name``."""
    return PrivateKey(hashlib.sha256(ACCOUNT_SEED_DOMAIN + name.encode("utf-8")).digest())


def account(name: str) -> Account:
    """The test account called ``name``, the same in every chain (``Chain.account``)."""
    if not isinstance(name, str) or not name:
        raise HarnessError(f"an account name is a non-empty string, got {name!r}")
    return Account(name, key_for(name))


@dataclass(frozen=True)
class Snapshot:
    """Everything ``Chain.revert`` restores; opaque to tests."""

    owner: Chain
    state: object
    height: int
    time_ms: int
    results: tuple[CallResult, ...]
    contracts: tuple[tuple[bytes, ContractHandle], ...]


class Chain:
    """An in-process chain: see the package docstring (zonechain.sdk.testing) for a tour."""

    def __init__(
        self, chain_id: str = "test", zone: str = "default", *,
        gas_limit: int = DEFAULT_GAS_LIMIT, height: int = 1, time_ms: int = GENESIS_TIME_MS,
        backend: Backend | str | None = None,
        permissions: Mapping[str, object] | str | None = None,
    ) -> None:
        if not isinstance(chain_id, str) or not CHAIN_ID_PATTERN.match(chain_id):
            raise HarnessError(f"chain id {chain_id!r} must match {CHAIN_ID_PATTERN.pattern}")
        _check_zone(zone)
        _check_gas_limit(gas_limit)
        if height < 0 or time_ms < 0:
            raise HarnessError("height and time_ms must not be negative")
        self.chain_id = chain_id
        self.zone = zone
        self.gas_limit = gas_limit
        self.height = height
        self.time_ms = time_ms
        self.backend: Backend = _make_backend(chain_id, backend, permissions)
        self._accounts: dict[str, Account] = {}
        self._by_address: dict[bytes, Account] = {}
        self._contracts: dict[bytes, ContractHandle] = {}
        self._results: list[CallResult] = []

    def __repr__(self) -> str:
        return (f"Chain({self.chain_id!r}, zone={self.zone!r}, height={self.height}, "
                f"contracts={len(self._contracts)})")

    # --- accounts --------------------------------------------------------------------

    def account(self, name: str) -> Account:
        """The account called ``name`` (created on first use; same key in every chain)."""
        known = self._accounts.get(name)
        if known is None:
            known = account(name)
            self._accounts[name] = known
            self._by_address[known.address] = known
        return known

    def nonce(self, account: bytes) -> int:
        """The nonce ``account``'s next transaction will carry."""
        return account_nonce(self.backend, bytes(account))

    # --- blocks ------------------------------------------------------------------------

    @property
    def block(self) -> BlockInfo:
        return BlockInfo(self.chain_id, self.height, self.time_ms)

    def advance(self, blocks: int = 1, ms: int | None = None) -> BlockInfo:
        """Move to a later block: height + ``blocks``, time + ``ms`` (default 1 s a block)."""
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise HarnessError(f"blocks must be a positive int, got {blocks!r}")
        step = blocks * BLOCK_INTERVAL_MS if ms is None else ms
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise HarnessError(f"ms must be a non-negative int (time never goes back), "
                               f"got {ms!r}")
        self.height += blocks
        self.time_ms += step
        return self.block

    # --- contracts ---------------------------------------------------------------------

    def deploy(
        self, deployer: Account, source: ContractSource, *init_args: object,
        zone: str | None = None, gas_limit: int | None = None,
        init_kwargs: Mapping[str, object] | None = None, init_data: bytes | None = None,
    ) -> ContractHandle:
        """Deploy ``source`` (folder, source file, .wasm, BuildResult or (bytes, abi)).

        ``init_args``/``init_kwargs`` are encoded with the ABI's ``init``;
        ``init_data`` gives the raw bytes instead. Raises ``ContractFailed`` if
        the deploy fails (the deployer's nonce is still consumed).
        """
        artifact = load_contract(source)
        if init_data is None:
            init_data = self._init_data(artifact.abi, init_args, init_kwargs or {})
        elif init_args or init_kwargs:
            raise HarnessError("give init arguments or init_data, not both")
        result = self.deploy_raw(deployer, artifact.code, init_data, zone=zone,
                                 gas_limit=gas_limit, abi=artifact.abi)
        _raise_if_failed(result)
        assert result.created is not None
        return self._contracts[result.created]

    def deploy_raw(
        self, deployer: Account, code: bytes, init_data: bytes = b"", *,
        zone: str | None = None, gas_limit: int | None = None, abi: ContractAbi | None = None,
    ) -> CallResult:
        """Low level: deploy ``code``; returns the receipt, failed or not (never raises it)."""
        zone = self.zone if zone is None else zone
        _check_zone(zone)
        try:
            payload = DeployPayload(bytes(code), bytes(init_data))
        except MalformedMessage as error:
            raise InvalidTransaction(str(error)) from None
        signed, execution = self._transact(deployer, zone, payload, gas_limit)
        address = execution.created
        handle = None
        if execution.ok and address is not None:
            handle = ContractHandle(self, address, abi, zone, deployer)
            self._contracts[address] = handle
        contract = address if address is not None else _deploy_address(signed)
        result = self._record(signed, execution, "deploy", contract, abi)
        if handle is not None:
            handle.deployment = result
        return result

    def contract(self, address: bytes, abi: ContractAbi | str | Path | None = None
                 ) -> ContractHandle:
        """The handle of the contract at ``address``; ``abi`` names its ABI if not known yet."""
        handle = self._contracts.get(bytes(address))
        if handle is not None and abi is None:
            return handle
        if abi is None:
            raise HarnessError(f"no contract deployed through this chain at "
                               f"{format_address(bytes(address))}; pass its abi")
        abi = resolve_abi(abi)
        zone = handle.zone if handle is not None else self.zone
        deployer = handle.deployer if handle is not None else QUERY_SENDER
        handle = ContractHandle(self, bytes(address), abi, zone, deployer)
        self._contracts[bytes(address)] = handle
        return handle

    @property
    def contracts(self) -> tuple[ContractHandle, ...]:
        """Every contract deployed (or registered) on this chain, in deploy order."""
        return tuple(self._contracts.values())

    # --- governance --------------------------------------------------------------------

    def propose(self, sender: Account, action: Action, *, expiry_height: int | None = None,
                check: bool = True) -> CallResult:
        """A governance transaction proposing ``action`` (node/permissions/actions.py).

        ``expiry_height`` defaults to the longest lifetime allowed. The result's
        ``value`` is the proposal id; the action executes in the same transaction
        when the proposer's approval alone meets the policy. Raises
        ``ContractFailed`` if refused, unless ``check=False``.
        """
        expiry = self.height + PROPOSAL_LIFETIME_MAX if expiry_height is None else expiry_height
        try:
            body = encode_body(Propose(action, expiry))
        except (ValueError, OverflowError) as error:
            raise HarnessError(f"cannot encode the proposal: {error}") from None
        return self._govern(sender, "propose", body, check)

    def approve(self, sender: Account, proposal_id: int, *, check: bool = True) -> CallResult:
        """A governance transaction approving proposal ``proposal_id`` (see ``propose``)."""
        try:
            body = encode_body(Approve(proposal_id))
        except (ValueError, OverflowError) as error:
            raise HarnessError(f"cannot encode the approval: {error}") from None
        return self._govern(sender, "approve", body, check)

    def _govern(self, sender: Account, method: str, body: bytes, check: bool) -> CallResult:
        try:
            payload = GovernancePayload(body)
        except MalformedMessage as error:
            raise InvalidTransaction(str(error)) from None
        signed, execution = self._transact(sender, self.zone, payload, None)
        result = self._record(signed, execution, method, GOVERNANCE_ADDRESS, None)
        if check:
            _raise_if_failed(result)
        return result

    # --- calls -------------------------------------------------------------------------

    def call(
        self, sender: Account, contract: ContractHandle | bytes, method: str, data: bytes = b"",
        *, gas_limit: int | None = None,
    ) -> CallResult:
        """Low level: call ``method`` with raw argument bytes; returns the receipt (never raises
        ``ContractFailed``). The result is decoded when the contract's ABI is known."""
        address = _address_of(contract)
        handle = self._contracts.get(address)
        zone = handle.zone if handle is not None else self.zone
        try:
            payload = CallPayload(address, method, bytes(data))
        except MalformedMessage as error:
            raise InvalidTransaction(str(error)) from None
        signed, execution = self._transact(sender, zone, payload, gas_limit)
        abi = handle.abi if handle is not None else None
        return self._record(signed, execution, method, address, abi)

    def query(
        self, contract: ContractHandle | bytes, method: str, data: bytes = b"", *,
        sender: bytes | None = None, gas_limit: int | None = None,
    ) -> CallResult:
        """Low level: run ``method`` read-only with raw argument bytes; nothing is recorded."""
        address = _address_of(contract)
        handle = self._contracts.get(address)
        limit = self.gas_limit if gas_limit is None else gas_limit
        _check_gas_limit(limit)
        caller = QUERY_SENDER if sender is None else bytes(sender)
        context = CallContext(
            caller=caller, origin=caller, contract=address,
            zone=handle.zone if handle is not None else self.zone,
            block_height=self.height, block_time_ms=self.time_ms, tx_hash=NO_TX_HASH)
        execution = self.backend.query(context, method, bytes(data), limit)
        return self._result(execution, method, caller, address, limit, NO_TX_HASH, None,
                            handle.abi if handle is not None else None)

    def _transact(
        self, sender: Account, zone: str,
        payload: DeployPayload | CallPayload | GovernancePayload, gas_limit: int | None,
    ) -> tuple[SignedTransaction, Execution]:
        if not isinstance(sender, Account):
            raise HarnessError("the sender must be an Account from chain.account(name): "
                               "transactions are signed with its key")
        limit = self.gas_limit if gas_limit is None else gas_limit
        _check_gas_limit(limit)
        try:
            tx = Transaction(self.chain_id, sender.public_key, self.nonce(sender), limit, zone,
                             payload)
        except MalformedMessage as error:
            raise InvalidTransaction(str(error)) from None
        signed = sign_transaction(tx, sender.key)
        return signed, self.backend.execute(signed, self.block)

    def _record(
        self, signed: SignedTransaction, execution: Execution, method: str, contract: bytes,
        abi: ContractAbi | None,
    ) -> CallResult:
        tx = signed.tx
        result = self._result(execution, method, tx.sender_address, contract, tx.gas_limit,
                              signed.hash, tx.nonce, abi)
        self._results.append(result)
        return result

    def _result(
        self, execution: Execution, method: str, sender: bytes, contract: bytes, gas_limit: int,
        tx_hash: bytes, nonce: int | None, abi: ContractAbi | None,
    ) -> CallResult:
        value = None
        if execution.ok and abi is not None and method in abi.method_names:
            value = self._lenient_result(abi.method(method), execution.return_data)
        elif execution.ok and contract == GOVERNANCE_ADDRESS:
            value = proposal_id_of(execution.return_data)
        events = tuple(self._event(event.contract, event.topic, event.data, tx_hash, index, abi
                                   if event.contract == contract else None)
                       for index, event in enumerate(execution.events))
        return CallResult(
            ok=execution.ok, method=method, sender=self._by_address.get(sender, sender),
            contract=contract, gas_used=execution.gas_used, gas_limit=gas_limit,
            return_data=execution.return_data, value=value, events=events,
            error_code=execution.error_code, error_message=execution.error_message,
            block_height=self.height, block_time_ms=self.time_ms, tx_hash=tx_hash, nonce=nonce,
            writes=execution.writes, created=execution.created)

    def _lenient_result(self, method: Method, data: bytes) -> Any:
        try:
            return self.decode_result(method, data)
        except AbiError:
            return None

    def decode_result(self, method: Method, data: bytes) -> Any:
        """``data`` decoded as ``method``'s result (strict: AbiError if it does not fit)."""
        value = method.decode_result(data)
        return value if method.returns is None else self._present(method.returns, value)

    def _event(self, contract: bytes, topic: bytes, data: bytes, tx_hash: bytes, index: int,
               abi: ContractAbi | None) -> ContractEvent:
        if abi is None:
            handle = self._contracts.get(contract)
            abi = handle.abi if handle is not None else None
        name = topic.decode("utf-8", "replace")
        governance = governance_event_fields(contract, topic, data)
        if governance is not None:
            actor = governance["actor"]
            governance["actor"] = self._by_address.get(actor, actor) \
                if isinstance(actor, bytes) else actor
            return ContractEvent(name, governance, contract, topic, data, self.height, tx_hash,
                                 index, True)
        fields: dict[str, Any] = {}
        decoded = False
        if abi is not None and name in {event.name for event in abi.events}:
            declared = abi.event(name)
            try:
                raw_fields = declared.decode(data)
            except AbiError:
                pass
            else:
                fields = {field.name: self._present(field.type, raw_fields[field.name])
                          for field in declared.fields}
                decoded = True
        return ContractEvent(name, fields, contract, topic, data, self.height, tx_hash, index,
                             decoded)

    def _present(self, abi_type: AbiType, value: Any) -> Any:
        """Addresses of this chain's accounts as their ``Account`` objects (equal bytes)."""
        kind = abi_type.kind
        if kind == "address":
            return self._by_address.get(value, value)
        if kind == "list" and abi_type.item is not None:
            return [self._present(abi_type.item, item) for item in value]
        if kind == "optional" and abi_type.item is not None and value is not None:
            return self._present(abi_type.item, value)
        return value

    def _init_data(self, abi: ContractAbi, args: Sequence[object],
                   kwargs: Mapping[str, object]) -> bytes:
        if "init" in abi.method_names:
            return abi.method("init").encode_args(*_arguments(args),
                                                  **_keyword_arguments(kwargs))
        if args or kwargs:
            raise AbiError(f"contract {abi.contract!r} has no init method, "
                           "but init arguments were given")
        return b""

    # --- history, events, state ----------------------------------------------------------

    @property
    def last(self) -> CallResult | None:
        """The receipt of the latest transaction (deploy or call), None before any."""
        return self._results[-1] if self._results else None

    @property
    def results(self) -> tuple[CallResult, ...]:
        """Receipts of every transaction so far, oldest first (failed ones included)."""
        return tuple(self._results)

    def events(self, contract: ContractHandle | bytes | None = None, name: str | None = None,
               *, history: bool = False) -> list[ContractEvent]:
        """Decoded events of the latest transaction (``history=True``: of all of them)."""
        results = self._results if history else self._results[-1:]
        address = None if contract is None else _address_of(contract)
        return [event for result in results for event in result.events
                if event.matches(name, address)]

    def get(self, key: bytes) -> bytes | None:
        """The committed value of a raw state key (vm/state.py's layout)."""
        return self.backend.get(key)

    def items(self, prefix: bytes = b"") -> dict[bytes, bytes]:
        """Every committed state item whose key starts with ``prefix``, in key order."""
        return self.backend.items(prefix)

    def storage(self, contract: ContractHandle | bytes) -> dict[bytes, bytes]:
        """A contract's own storage: its keys (without the state prefix) and values."""
        prefix = PREFIX_CONTRACT_STORAGE + _address_of(contract)
        return {key[len(prefix):]: value for key, value in self.items(prefix).items()}

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Remember the whole chain (state, nonces, block, contracts, history)."""
        return Snapshot(self, self.backend.snapshot(), self.height, self.time_ms,
                        tuple(self._results), tuple(self._contracts.items()))

    def revert(self, snapshot: Snapshot) -> None:
        """Return to ``snapshot`` exactly; a snapshot can be reverted to more than once."""
        if not isinstance(snapshot, Snapshot) or snapshot.owner is not self:
            raise HarnessError("revert takes a snapshot taken from this chain")
        self.backend.revert(snapshot.state)
        self.height = snapshot.height
        self.time_ms = snapshot.time_ms
        self._results = list(snapshot.results)
        self._contracts = dict(snapshot.contracts)

    # --- assertions -----------------------------------------------------------------------

    def expect_error(self, code: str | None = None,
                     message: str | re.Pattern[str] | None = None) -> ExpectedError:
        """A context manager asserting that a call inside it fails (see assertions.py)."""
        return ExpectedError(code, message, self)

    def failed_since(self, count: int) -> CallResult | None:
        """The latest failed receipt among transactions after the first ``count``."""
        for result in reversed(self._results[count:]):
            if not result.ok:
                return result
        return None

    def assert_event(self, name: str, fields: Mapping[str, object] | None = None, /, *,
                     contract: ContractHandle | bytes | None = None,
                     **field_values: object) -> ContractEvent:
        """Assert the latest transaction emitted event ``name`` with these field values."""
        address = None if contract is None else _address_of(contract)
        return assert_event(self.events(), name, fields, contract=address, **field_values)


class ContractHandle:
    """A deployed contract: typed calls and queries from its ABI.

    ``token.call(alice).transfer(bob, 10)`` -> ``CallResult`` (raises ContractFailed)
    ``token.query().balance_of(bob)``       -> the decoded value
    """

    def __init__(self, chain: Chain, address: bytes, abi: ContractAbi | None, zone: str,
                 deployer: bytes) -> None:
        self.chain = chain
        self.address = address
        self.abi = abi
        self.zone = zone
        self.deployer = deployer
        self.deployment: CallResult | None = None
        """The deploy's receipt (gas used, init's events), when deployed through the chain."""

    @property
    def name(self) -> str:
        return self.abi.contract if self.abi is not None else "contract"

    def __repr__(self) -> str:
        return f"ContractHandle({self.name!r}, {format_address(self.address)})"

    def call(self, sender: Account, *, gas_limit: int | None = None,
             check: bool = True) -> CallProxy:
        """Methods sent as transactions by ``sender``; ``check=False`` returns failures."""
        return CallProxy(self, sender, gas_limit, check)

    def query(self, sender: bytes | None = None, *, gas_limit: int | None = None) -> QueryProxy:
        """Methods run read-only against the current state; they return decoded values."""
        return QueryProxy(self, sender, gas_limit)

    def events(self, name: str | None = None, *, history: bool = False) -> list[ContractEvent]:
        """This contract's events in the latest transaction (or in all of them)."""
        return self.chain.events(self, name, history=history)

    def storage(self) -> dict[bytes, bytes]:
        return self.chain.storage(self)

    def method(self, name: str) -> Method:
        if self.abi is None:
            raise HarnessError(f"{self!r} has no ABI: use chain.contract(address, abi=...)")
        try:
            return self.abi.method(name)
        except AbiError as error:
            raise AttributeError(str(error)) from None


class _Proxy:
    """Attribute access -> a callable for the ABI method of that name."""

    def __init__(self, handle: ContractHandle) -> None:
        self._handle = handle

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        method = self._handle.method(name)

        def invoke(*args: object, **kwargs: object) -> Any:
            data = method.encode_args(*_arguments(args), **_keyword_arguments(kwargs))
            return self._send(method, data)

        invoke.__name__ = name
        invoke.__doc__ = _signature(method)
        return invoke

    def __dir__(self) -> list[str]:
        abi = self._handle.abi
        return sorted(abi.method_names) if abi is not None else []

    def _send(self, method: Method, data: bytes) -> Any:
        raise NotImplementedError


class CallProxy(_Proxy):
    def __init__(self, handle: ContractHandle, sender: Account, gas_limit: int | None,
                 check: bool) -> None:
        super().__init__(handle)
        self._sender = sender
        self._gas_limit = gas_limit
        self._check = check

    def _send(self, method: Method, data: bytes) -> CallResult:
        handle = self._handle
        result = handle.chain.call(self._sender, handle, method.name, data,
                                   gas_limit=self._gas_limit)
        if self._check:
            _raise_if_failed(result)
            if result.ok:
                handle.chain.decode_result(method, result.return_data)  # strict: AbiError
        return result


class QueryProxy(_Proxy):
    def __init__(self, handle: ContractHandle, sender: bytes | None,
                 gas_limit: int | None) -> None:
        super().__init__(handle)
        self._sender = sender
        self._gas_limit = gas_limit

    def _send(self, method: Method, data: bytes) -> Any:
        handle = self._handle
        result = handle.chain.query(handle, method.name, data, sender=self._sender,
                                    gas_limit=self._gas_limit)
        _raise_if_failed(result)
        return handle.chain.decode_result(method, result.return_data)


class Accounts:
    """Named accounts of one chain: ``accounts.alice`` or ``accounts["alice"]``."""

    def __init__(self, chain: Chain) -> None:
        self._chain = chain

    def __getattr__(self, name: str) -> Account:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._chain.account(name)

    def __getitem__(self, name: str) -> Account:
        return self._chain.account(name)


# --- helpers ------------------------------------------------------------------------------


def _raise_if_failed(result: CallResult) -> None:
    if not result.ok:
        raise ContractFailed(result.error_code or "error", result.error_message or "",
                             result.gas_used, result)


def _address_of(contract: ContractHandle | bytes) -> bytes:
    if isinstance(contract, ContractHandle):
        return contract.address
    if isinstance(contract, bytes | bytearray) and len(contract) == ADDRESS_BYTES:
        return bytes(contract)
    raise HarnessError(f"expected a ContractHandle or a {ADDRESS_BYTES}-byte address, "
                       f"got {contract!r}")


def _argument(value: object) -> object:
    """Handles become their addresses, inside lists too; everything else as it is."""
    if isinstance(value, ContractHandle):
        return value.address
    if isinstance(value, list | tuple):
        return [_argument(item) for item in value]
    return value


def _arguments(values: Sequence[object]) -> list[object]:
    return [_argument(value) for value in values]


def _keyword_arguments(values: Mapping[str, object]) -> dict[str, object]:
    return {name: _argument(value) for name, value in values.items()}


def _signature(method: Method) -> str:
    params = ", ".join(f"{param.name}: {param.type}" for param in method.params)
    returns = "" if method.returns is None else f" -> {method.returns}"
    return f"{method.name}({params}){returns}"


def _check_zone(zone: object) -> None:
    if not isinstance(zone, str) or not zone or len(zone.encode()) > ZONE_NAME_BYTES_MAX:
        raise HarnessError(f"a zone is a name of 1 to {ZONE_NAME_BYTES_MAX} bytes, got {zone!r}")


def _check_gas_limit(gas_limit: object) -> None:
    if isinstance(gas_limit, bool) or not isinstance(gas_limit, int) \
            or not 0 <= gas_limit <= GAS_LIMIT_MAX:
        raise InvalidTransaction(f"gas limit must be an int in 0..{GAS_LIMIT_MAX}, "
                                 f"got {gas_limit!r}")


def _make_backend(chain_id: str, backend: Backend | str | None,
                  permissions: Mapping[str, object] | str | None) -> Backend:
    """The backend ``Chain(backend=..., permissions=...)`` asks for."""
    if backend is None or backend == "executor":
        if permissions is None:
            return ExecutorBackend(chain_id)
        section = _permissions_section(permissions)
        names = template_account_names(section)
        return ExecutorBackend(chain_id, permissions=section,
                               accounts={name: key_for(name).public_key for name in names})
    if permissions is not None:
        raise HarnessError("permissions need the executor backend (backend=None or "
                           "\"executor\"); a backend object brings its own state")
    if backend == "vm":
        return VmBackend()
    if isinstance(backend, str):
        raise HarnessError(f"backend must be one of {BACKEND_NAMES} or a Backend, "
                           f"got {backend!r}")
    return backend


def _permissions_section(permissions: Mapping[str, object] | str) -> Mapping[str, object]:
    if permissions == PERMISSIONS_TEMPLATE:
        return load_template()
    if isinstance(permissions, Mapping):
        return permissions
    raise HarnessError(f"permissions must be a genesis permissions section (a mapping) or "
                       f"{PERMISSIONS_TEMPLATE!r}, got {permissions!r}")


def _deploy_address(signed: SignedTransaction) -> bytes:
    return contract_address(signed.tx.sender_address, signed.tx.nonce)

