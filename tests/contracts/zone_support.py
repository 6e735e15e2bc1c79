"""The zone contract tests' view of the test harness (zonechain.sdk.testing).

Several contracts share one harness ``Chain`` so that the zone contracts'
cross-contract calls into token contracts run through the real VM with
nested overlays, from signed transactions. This module adds what those
scenarios lean on:
- every transaction gets its own block (height + 1, time + 1 s after it), so
  heights in a scenario read like a ledger;
- contract addresses are the chain's (``contract_address(deployer, nonce)``);
  a test names the address it expects and ``deploy`` checks it, so module
  constants can appear in arguments and expected events;
- ``storage()`` is every contract's storage, the state a failed call must
  leave exactly as it was (nonces move on; contract state must not);
- events as (contract name, event name, fields) triples.

Every transaction's gas is appended to ``GAS_LOG`` as (contract name,
method, gas used, ok): benchmarks/contract_gas.py runs the scenario tests
and prints per-method tables from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zonechain.contracts.abi import ContractAbi, Event, Param, parse_type
from zonechain.contracts.toolchain import BuildResult
from zonechain.node.types.address import contract_address
from zonechain.sdk.testing import Account, CallResult, Chain, ContractHandle, account
from zonechain.vm.state import PREFIX_CONTRACT_STORAGE

__all__ = ["GAS_LOG", "Account", "Contract", "ZoneChain", "abort_message", "account",
           "contract_address", "record_decoder"]

ZONE = "trade"

GAS_LOG: list[tuple[str, str, int, bool]] = []


@dataclass(frozen=True)
class Contract:
    chain: ZoneChain
    name: str
    handle: ContractHandle

    @property
    def address(self) -> bytes:
        return self.handle.address

    @property
    def abi(self) -> ContractAbi:
        assert self.handle.abi is not None
        return self.handle.abi

    def call(self, method: str, *args: object, sender: Account) -> CallResult:
        return self.call_raw(method, self.abi.method(method).encode_args(*args), sender)

    def call_raw(self, method: str, data: bytes, sender: Account) -> CallResult:
        return self.chain.transact(self, method, data, sender)

    def query(self, method: str, *args: object) -> Any:
        return getattr(self.handle.query(), method)(*args)


class ZoneChain:
    def __init__(self) -> None:
        self.chain = Chain(zone=ZONE)
        self.names: dict[bytes, str] = {}

    @property
    def height(self) -> int:
        return self.chain.height

    @property
    def time_ms(self) -> int:
        return self.chain.time_ms

    def advance(self, blocks: int = 1, ms: int | None = None) -> None:
        """Move the chain on by ``blocks`` blocks (and ``ms`` ms; default 1 s a block)."""
        self.chain.advance(blocks, ms)

    def deploy(self, build: BuildResult, expected_address: bytes, *args: object,
               sender: Account) -> Contract:
        handle = self.chain.deploy(sender, build, *args)
        assert handle.address == expected_address, "deploys ran in another order"
        self.names[handle.address] = build.name
        self.advance()
        return Contract(self, build.name, handle)

    def transact(self, contract: Contract, method: str, data: bytes,
                 sender: Account) -> CallResult:
        result = self.chain.call(sender, contract.handle, method, data)
        GAS_LOG.append((contract.name, method, result.gas_used, result.ok))
        self.advance()
        return result

    def events(self, result: CallResult) -> list[tuple[str, str, dict[str, Any]]]:
        """(contract name, event name, fields) of every event, in emission order."""
        return [(self.names[event.contract], event.name, event.fields)
                for event in result.events]

    def storage(self) -> dict[bytes, bytes]:
        """Every contract's storage (raw state keys under the storage prefix)."""
        return self.chain.items(PREFIX_CONTRACT_STORAGE)


def abort_message(result: CallResult) -> str:
    """The abort message of a failed call, after checking it left nothing behind."""
    assert not result.ok, "the call was expected to fail"
    assert result.error_code == "aborted", result
    assert result.writes == {} and result.events == ()
    assert result.error_message is not None
    return result.error_message


def record_decoder(name: str, fields: list[tuple[str, str]]) -> Event:
    """A decoder for a record a query returns as ``bytes`` (fields in order)."""
    return Event(name, tuple(Param(field, parse_type(kind)) for field, kind in fields))
