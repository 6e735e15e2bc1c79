"""What one transaction or query did, as the harness reports it.

``CallResult`` mirrors a receipt of a real chain (status, gas used, return
data, events, error code and message, the created contract) plus what only a
test can see: the decoded return ``value`` and the net state ``writes``.
``ContractEvent`` is one event, decoded with the ABI of the contract that
emitted it (``decoded`` is False when that contract's ABI is unknown or has no
such event; ``data`` always holds the raw bytes).

Both are plain frozen records: comparing, printing and keeping them never
touches the chain again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zonechain.node.types.address import format_address
from zonechain.vm.state import ADDRESS_BYTES


def _address_text(address: bytes) -> str:
    return format_address(address) if len(address) == ADDRESS_BYTES else repr(address)


@dataclass(frozen=True)
class ContractEvent:
    """One event: its name (the topic), decoded fields, and where it came from."""

    name: str
    fields: dict[str, Any]
    contract: bytes
    topic: bytes = field(repr=False)
    data: bytes = field(repr=False)
    block_height: int = field(repr=False)
    tx_hash: bytes = field(repr=False)
    index: int = field(repr=False)
    """Position among the events of its transaction."""
    decoded: bool = field(default=True, repr=False)

    def __repr__(self) -> str:
        undecoded = "" if self.decoded else f", undecoded data={self.data.hex()}"
        return (f"ContractEvent({self.name!r}, {self.fields!r}, "
                f"contract={_address_text(self.contract)}{undecoded})")

    def matches(self, name: str | None = None, contract: bytes | None = None,
                **expected_fields: object) -> bool:
        """Whether the event has ``name``, comes from ``contract`` and has those field values."""
        if name is not None and self.name != name:
            return False
        if contract is not None and self.contract != contract:
            return False
        return all(key in self.fields and self.fields[key] == value
                   for key, value in expected_fields.items())


@dataclass(frozen=True)
class CallResult:
    """The receipt of one transaction (``call``/``deploy``) or the answer to a query."""

    ok: bool
    method: str
    """``"deploy"`` for a deploy, else the method name."""
    sender: bytes
    contract: bytes
    """The called contract, or the new contract's address for a deploy."""
    gas_used: int
    gas_limit: int
    return_data: bytes
    value: Any
    """The decoded result (None: failed, no result type, or no ABI)."""
    events: tuple[ContractEvent, ...]
    error_code: str | None
    error_message: str | None
    block_height: int
    block_time_ms: int
    tx_hash: bytes
    """The id of the signed transaction (all zeros for a query)."""
    nonce: int | None
    """The sender's nonce the transaction used (None for a query)."""
    writes: dict[bytes, bytes | None] = field(default_factory=dict, repr=False)
    """Net state changes in sorted key order (None = deleted); {} on failure."""
    created: bytes | None = None
    """The new contract's address, for a successful deploy."""

    def __repr__(self) -> str:
        outcome = "ok" if self.ok else f"failed {self.error_code}: {self.error_message!r}"
        return (f"CallResult({self.method}: {outcome}, value={self.value!r}, "
                f"gas_used={self.gas_used}, events={list(self.events)!r}, "
                f"sender={self.sender!r}, contract={_address_text(self.contract)}, "
                f"height={self.block_height})")

    def event_items(self) -> list[tuple[str, dict[str, Any]]]:
        """``[(name, fields), ...]``: the events in a form easy to compare with ``==``."""
        return [(event.name, event.fields) for event in self.events]
