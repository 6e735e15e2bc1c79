"""Typed contract proxies built from an ABI file, for the sync and the async client.

    token = client.contract(address, "token.abi.json", key=key, zone="payments")
    token.balance_of(owner)              # readonly in the ABI -> a query, decoded result
    outcome = token.transfer(to, 100)    # state-changing -> sign, submit, wait for receipt
    outcome.events                       # decoded events of this contract
    dry = token.simulate.transfer(to, 100)  # dry run on the latest state: SimulatedCall
    dry.gas_used, dry.result, dry.events  # nothing committed, no nonce used

Guarantees:
- Arguments are checked against the ABI BEFORE anything is signed or sent:
  a wrong type, count or range raises ``AbiArgumentError`` naming the method
  and the parameter (``.parameter``). An ``address`` argument may be given as
  20 bytes or as checksummed ``zc...`` text.
- A readonly method runs as a view call (``Client.query``, signed with the
  proxy's key, else the client's, if either is set) and returns the
  decoded result; a state-changing one is signed with the proxy's key, sent
  with the client's managed nonces, waited for, and returns a ``CallOutcome``
  (receipt, decoded result, decoded events); a failed receipt raises its
  ``TransactionFailed`` subclass (``ContractError`` with code + message).
- A result or event the ABI cannot decode raises ``NodeError`` (the node, or
  the ABI given, does not match the contract).
- ``proxy.simulate.NAME(...)`` (or ``proxy.simulate_call("NAME", ...)``) signs
  the call with the proxy's key and the account's committed nonce and
  dry-runs it (``Client.simulate``): a ``SimulatedCall`` with the decoded
  result and events when it succeeds; nothing is sent to a mempool and no
  managed nonce is allocated. It raises nothing for a failed or invalid
  call: ``.ok``, ``.simulation.error_code`` and the receipt say what happened.
- Method names that clash with the proxy's own attributes stay reachable
  through ``proxy.method("name")``.

``deploy(client, key, path, zone=..., init_args...)`` reads the ``.wasm`` (a
file, or a build folder holding one ``NAME.wasm`` and its ``NAME.abi.json``),
checks the ``init`` arguments against the ABI, deploys, and returns the proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from zonechain.contracts.abi import AbiError, ContractAbi, Method, load_abi
from zonechain.node.types.address import format_address, parse_address
from zonechain.node.types.errors import InvalidAddress
from zonechain.node.types.receipt import Event, Receipt
from zonechain.node.types.transaction import SignedTransaction
from zonechain.sdk.errors import (
    AbiArgumentError,
    InvalidTransaction,
    NodeError,
    abi_argument_error,
)
from zonechain.sdk.keys import Key
from zonechain.sdk.responses import Simulation
from zonechain.sdk.transactions import DEFAULT_GAS_LIMIT, build_call, read_code, to_address

if TYPE_CHECKING:
    from zonechain.sdk.aio import AsyncClient
    from zonechain.sdk.client import Client

INIT_METHOD: Final = "init"
ADDRESS_TYPE: Final = "address"


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """An event of the proxied contract, decoded by its ABI (``name`` = the topic)."""

    name: str
    fields: dict[str, Any]
    contract: bytes


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The result of a state-changing call: its receipt, decoded result and events."""

    receipt: Receipt
    result: Any
    events: tuple[DecodedEvent, ...]

    @property
    def gas_used(self) -> int:
        return self.receipt.gas_used


@dataclass(frozen=True, slots=True)
class SimulatedCall:
    """A dry-run call: the ``Simulation``, and its result and events decoded by the ABI.

    ``result`` is None unless the call succeeded (``ok``)."""

    simulation: Simulation
    result: Any
    events: tuple[DecodedEvent, ...]

    @property
    def ok(self) -> bool:
        return self.simulation.ok

    @property
    def gas_used(self) -> int:
        return self.simulation.gas_used


class _Simulator:
    """``proxy.simulate.NAME(...)``: the dry-run twin of ``proxy.NAME(...)``."""

    def __init__(self, proxy: Contract | AsyncContract) -> None:
        self._proxy = proxy

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        proxy = self._proxy
        if name not in proxy.abi.method_names:
            raise AttributeError(f"contract {proxy.abi.contract!r} has no method {name!r}")

        def invoke(*args: object, **kwargs: object) -> Any:
            return proxy.simulate_call(name, *args, **kwargs)

        invoke.__name__ = name
        return invoke


def resolve_abi(abi: ContractAbi | str | Path) -> ContractAbi:
    """A ContractAbi as given, or loaded from its file (AbiArgumentError if it is not valid)."""
    if isinstance(abi, ContractAbi):
        return abi
    try:
        return load_abi(abi)
    except AbiError as error:
        raise AbiArgumentError(str(error)) from None


def encode_call(abi: ContractAbi, name: str, args: tuple[object, ...],
                kwargs: dict[str, object]) -> tuple[Method, bytes]:
    """The ABI method and its argument bytes; AbiArgumentError naming the parameter.

    An ``address`` parameter also accepts the checksummed ``zc...`` text form.
    """
    try:
        method = abi.method(name)
        converted = _address_text_to_bytes(method, args, kwargs)
        return method, method.encode_args(*converted[0], **converted[1])
    except AbiError as error:
        raise abi_argument_error(error) from None


def _address_text_to_bytes(method: Method, args: tuple[object, ...], kwargs: dict[str, object]
                           ) -> tuple[list[object], dict[str, object]]:
    positional, named = list(args), dict(kwargs)
    for index, param in enumerate(method.params):
        if param.type.kind != ADDRESS_TYPE:
            continue
        if index < len(positional):
            positional[index] = _parse_address_argument(method, param.name, positional[index])
        elif param.name in named:
            named[param.name] = _parse_address_argument(method, param.name, named[param.name])
    return positional, named


def _parse_address_argument(method: Method, name: str, value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return parse_address(value)
    except InvalidAddress as error:
        raise AbiArgumentError(f"method {method.name!r} argument {name!r}: {error}",
                               name) from None


def decode_result(method: Method, data: bytes) -> Any:
    try:
        return method.decode_result(data)
    except AbiError as error:
        raise NodeError(f"result of {method.name!r} does not match the ABI: {error}") from None


def decode_events(abi: ContractAbi, contract: bytes,
                  events: tuple[Event, ...]) -> tuple[DecodedEvent, ...]:
    """This contract's events that its ABI declares, decoded, in emission order."""
    known = {event.name.encode(): event for event in abi.events}
    decoded: list[DecodedEvent] = []
    for event in events:
        spec = known.get(event.topic)
        if event.contract != contract or spec is None:
            continue
        try:
            fields = spec.decode(event.data)
        except AbiError as error:
            raise NodeError(f"event {spec.name!r} does not match the ABI: {error}") from None
        decoded.append(DecodedEvent(spec.name, fields, contract))
    return tuple(decoded)


class _ProxyBase:
    """What the sync and async proxies share: address, ABI, signer, options."""

    def __init__(self, address: bytes | str, abi: ContractAbi | str | Path, *,
                 key: Key | None = None, zone: str | None = None,
                 gas_limit: int = DEFAULT_GAS_LIMIT) -> None:
        self.address = to_address(address, "contract")
        self.abi = resolve_abi(abi)
        self.key = key
        self.zone = zone
        self.gas_limit = gas_limit

    @property
    def address_text(self) -> str:
        return format_address(self.address)

    def _signer(self, method: Method) -> tuple[Key, str]:
        if self.key is None or self.zone is None:
            raise InvalidTransaction(
                f"{method.name!r} changes state: build the proxy with key= and zone= to send it")
        return self.key, self.zone

    def _outcome(self, method: Method, receipt: Receipt) -> CallOutcome:
        return CallOutcome(receipt, decode_result(method, receipt.return_data),
                           decode_events(self.abi, self.address, receipt.events))

    @property
    def simulate(self) -> Any:
        """``proxy.simulate.NAME(...)``: a dry run of method NAME (see the module docstring)."""
        assert isinstance(self, Contract | AsyncContract)
        return _Simulator(self)

    def _simulated(self, method: Method, simulation: Simulation) -> SimulatedCall:
        if not simulation.ok or simulation.receipt is None:
            return SimulatedCall(simulation, None, ())
        return SimulatedCall(simulation, decode_result(method, simulation.return_data),
                             decode_events(self.abi, self.address, simulation.events))

    def _dry_run_tx(self, method: Method, encoded: bytes, chain_id: str,
                    nonce: int) -> SignedTransaction:
        key, zone = self._signer(method)
        return key.sign(build_call(chain_id=chain_id, sender=key, nonce=nonce,
                                   contract=self.address, method=method.name, args=encoded,
                                   zone=zone, gas_limit=self.gas_limit))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        for method in self.abi.methods:
            if method.name == name and name != INIT_METHOD:
                return self.method(name)
        raise AttributeError(f"contract {self.abi.contract!r} has no method {name!r}")

    def method(self, name: str) -> Callable[..., Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.abi.contract!r} at {self.address_text})"


class Contract(_ProxyBase):
    """A proxy of a deployed contract for the synchronous ``Client``."""

    def __init__(self, client: Client, address: bytes | str, abi: ContractAbi | str | Path, *,
                 key: Key | None = None, zone: str | None = None,
                 gas_limit: int = DEFAULT_GAS_LIMIT) -> None:
        super().__init__(address, abi, key=key, zone=zone, gas_limit=gas_limit)
        self.client = client

    def method(self, name: str) -> Callable[..., Any]:
        """A callable for method ``name``: readonly -> decoded result, else a CallOutcome."""
        def invoke(*args: object, **kwargs: object) -> Any:
            return self.call(name, *args, **kwargs)

        invoke.__name__ = name
        return invoke

    def call(self, name: str, *args: object, **kwargs: object) -> Any:
        """Call method ``name``: a query if the ABI marks it readonly (its decoded
        result), else signed, submitted and waited for (a ``CallOutcome``)."""
        method, encoded = encode_call(self.abi, name, args, kwargs)
        if method.readonly:
            result = self.client.query(self.address, name, encoded, key=self.key)
            return decode_result(method, result.return_data)
        key, zone = self._signer(method)
        receipt = self.client.call_contract(key, self.address, name, encoded, zone=zone,
                                            gas_limit=self.gas_limit)
        return self._outcome(method, receipt)

    def simulate_call(self, name: str, *args: object, **kwargs: object) -> SimulatedCall:
        """Dry-run method ``name`` signed by the proxy's key with its committed nonce."""
        method, encoded = encode_call(self.abi, name, args, kwargs)
        key, _ = self._signer(method)
        signed = self._dry_run_tx(method, encoded, self.client.chain_id,
                                  self.client.account_nonce(key.address))
        return self._simulated(method, self.client.simulate(signed))


class AsyncContract(_ProxyBase):
    """A proxy of a deployed contract for ``AsyncClient``: every method is a coroutine."""

    def __init__(self, client: AsyncClient, address: bytes | str,
                 abi: ContractAbi | str | Path, *, key: Key | None = None,
                 zone: str | None = None, gas_limit: int = DEFAULT_GAS_LIMIT) -> None:
        super().__init__(address, abi, key=key, zone=zone, gas_limit=gas_limit)
        self.client = client

    def method(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def invoke(*args: object, **kwargs: object) -> Any:
            return await self.call(name, *args, **kwargs)

        invoke.__name__ = name
        return invoke

    async def call(self, name: str, *args: object, **kwargs: object) -> Any:
        method, encoded = encode_call(self.abi, name, args, kwargs)
        if method.readonly:
            result = await self.client.query(self.address, name, encoded, key=self.key)
            return decode_result(method, result.return_data)
        key, zone = self._signer(method)
        receipt = await self.client.call_contract(key, self.address, name, encoded, zone=zone,
                                                  gas_limit=self.gas_limit)
        return self._outcome(method, receipt)

    async def simulate_call(self, name: str, *args: object, **kwargs: object) -> SimulatedCall:
        """``Contract.simulate_call`` for AsyncClient."""
        method, encoded = encode_call(self.abi, name, args, kwargs)
        key, _ = self._signer(method)
        chain_id = await self.client.chain_id()
        nonce = await self.client.account_nonce(key.address)
        signed = self._dry_run_tx(method, encoded, chain_id, nonce)
        return self._simulated(method, await self.client.simulate(signed))


# --- deploy --------------------------------------------------------------------------


def locate_artifacts(path: str | Path, abi: ContractAbi | str | Path | None
                     ) -> tuple[bytes, ContractAbi]:
    """The Wasm bytes and ABI of a build: a ``.wasm`` file (ABI beside it) or a folder."""
    location = Path(path)
    code = read_code(location)
    if abi is not None:
        return code, resolve_abi(abi)
    wasm = location if location.is_file() else sorted(location.glob("*.wasm"))[0]
    abi_file = wasm.with_name(wasm.stem + ".abi.json")
    if not abi_file.is_file():
        raise InvalidTransaction(f"{abi_file}: no ABI file beside the contract; pass abi=")
    return code, resolve_abi(abi_file)


def init_arguments(abi: ContractAbi, args: tuple[object, ...],
                   kwargs: dict[str, object]) -> bytes:
    """The ``init`` argument bytes (empty when the ABI declares no init and none are given)."""
    if INIT_METHOD not in abi.method_names:
        if args or kwargs:
            raise AbiArgumentError(f"contract {abi.contract!r} has no init method, "
                                   "but init arguments were given")
        return b""
    return encode_call(abi, INIT_METHOD, args, kwargs)[1]


def created_address(receipt: Receipt) -> bytes:
    if receipt.created_contract is None:
        raise NodeError("a successful deploy receipt without the created contract's address")
    return receipt.created_contract


def deploy(client: Client, key: Key, path: str | Path, *init_args: object, zone: str,
           abi: ContractAbi | str | Path | None = None, gas_limit: int = DEFAULT_GAS_LIMIT,
           **init_kwargs: object) -> Contract:
    """Deploy the contract built at ``path`` with ``init`` arguments; its proxy (signed by key)."""
    code, parsed = locate_artifacts(path, abi)
    encoded = init_arguments(parsed, init_args, init_kwargs)
    receipt = client.deploy(key, code, encoded, zone=zone, gas_limit=gas_limit)
    return Contract(client, created_address(receipt), parsed, key=key, zone=zone,
                    gas_limit=gas_limit)


async def deploy_async(client: AsyncClient, key: Key, path: str | Path, *init_args: object,
                       zone: str, abi: ContractAbi | str | Path | None = None,
                       gas_limit: int = DEFAULT_GAS_LIMIT,
                       **init_kwargs: object) -> AsyncContract:
    """``deploy`` for AsyncClient."""
    code, parsed = locate_artifacts(path, abi)
    encoded = init_arguments(parsed, init_args, init_kwargs)
    receipt = await client.deploy(key, code, encoded, zone=zone, gas_limit=gas_limit)
    return AsyncContract(client, created_address(receipt), parsed, key=key, zone=zone,
                         gas_limit=gas_limit)
