"""Receipts and events: the deterministic outcome of executing one transaction.

    Event    contract (20-byte address of the emitter), topic, data
    Receipt  tx_hash, status, gas_used, return_data, events, error_code,
             error_message, created_contract (optional 20-byte address)

Status: SUCCESS (state changes applied); CONTRACT_ERROR (the call failed: its
state changes are discarded, gas is charged, ``error_code`` / ``error_message``
say why, see vm/errors.py); REJECTED (the transaction was not executed at all:
bad nonce, expired, not permitted...; ``error_code`` says why). A successful
receipt has empty error fields; any other has a non-empty ``error_code``.
Error text is part of consensus: it must be deterministic (no tracebacks,
addresses or timings) and within ERROR_MESSAGE_BYTES_MAX (the executor
truncates on a UTF-8 boundary before building the receipt).

A block's receipts root is the Merkle root (hashing.merkle_root) of its
receipts' hashes in transaction order.

Determinism: canonical bytes only; events keep their emission order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from zonechain.node.types._codec import (
    check_count,
    check_max_bytes,
    check_size,
    check_text,
    check_u64,
    decode_message,
    read_bounded_list,
)
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.hashing import (
    EVENT_HASH_DOMAIN,
    RECEIPT_HASH_DOMAIN,
    domain_hash,
)
from zonechain.node.types.limits import (
    ERROR_CODE_BYTES_MAX,
    ERROR_MESSAGE_BYTES_MAX,
    EVENT_DATA_BYTES_MAX,
    EVENT_TOPIC_BYTES_MAX,
    HASH_BYTES,
    RECEIPT_BYTES_MAX,
    RECEIPT_EVENTS_MAX,
    RETURN_DATA_BYTES_MAX,
)
from zonechain.proto import types_pb2
from zonechain.vm.encoding import DecodeError, Reader, Writer
from zonechain.vm.state import ADDRESS_BYTES


class ReceiptStatus(IntEnum):
    SUCCESS = 1
    CONTRACT_ERROR = 2
    REJECTED = 3


_STATUS_TO_PROTO: dict[ReceiptStatus, types_pb2.ReceiptStatus] = {
    ReceiptStatus.SUCCESS: types_pb2.RECEIPT_STATUS_SUCCESS,
    ReceiptStatus.CONTRACT_ERROR: types_pb2.RECEIPT_STATUS_CONTRACT_ERROR,
    ReceiptStatus.REJECTED: types_pb2.RECEIPT_STATUS_REJECTED,
}


@dataclass(frozen=True, slots=True)
class Event:
    """An event emitted by ``contract`` (host call ``emit_event``)."""

    contract: bytes
    topic: bytes
    data: bytes

    def __post_init__(self) -> None:
        check_size("event.contract", self.contract, ADDRESS_BYTES)
        check_max_bytes("event.topic", self.topic, EVENT_TOPIC_BYTES_MAX)
        check_max_bytes("event.data", self.data, EVENT_DATA_BYTES_MAX)

    def write(self, writer: Writer) -> None:
        writer.fixed(self.contract, ADDRESS_BYTES).bytes(self.topic).bytes(self.data)

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return bytes(writer)

    @property
    def hash(self) -> bytes:
        return domain_hash(EVENT_HASH_DOMAIN, self.encode())

    @classmethod
    def read(cls, reader: Reader) -> Event:
        return cls(
            reader.fixed(ADDRESS_BYTES, "event.contract"),
            reader.bytes("event.topic"),
            reader.bytes("event.data"),
        )

    @classmethod
    def decode(cls, data: bytes) -> Event:
        return decode_message(data, "event", RECEIPT_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.Event:
        return types_pb2.Event(contract=self.contract, topic=self.topic, data=self.data)

    @classmethod
    def from_proto(cls, message: types_pb2.Event) -> Event:
        return cls(message.contract, message.topic, message.data)


def _check_status(value: int) -> ReceiptStatus:
    try:
        return ReceiptStatus(value)
    except ValueError:
        raise MalformedMessage("receipt.status", f"unknown status {value}") from None


def _write_address(writer: Writer, value: bytes) -> None:
    writer.fixed(value, ADDRESS_BYTES)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of one transaction; see the module docstring for the status rules."""

    tx_hash: bytes
    status: ReceiptStatus
    gas_used: int
    return_data: bytes = b""
    events: tuple[Event, ...] = ()
    error_code: str = ""
    error_message: str = ""
    created_contract: bytes | None = None

    def __post_init__(self) -> None:
        check_size("receipt.tx_hash", self.tx_hash, HASH_BYTES)
        object.__setattr__(self, "status", _check_status(self.status))
        check_u64("receipt.gas_used", self.gas_used)
        check_max_bytes("receipt.return_data", self.return_data, RETURN_DATA_BYTES_MAX)
        object.__setattr__(self, "events", tuple(self.events))
        check_count("receipt.events", len(self.events), RECEIPT_EVENTS_MAX)
        check_text("receipt.error_code", self.error_code, ERROR_CODE_BYTES_MAX, allow_empty=True)
        check_text("receipt.error_message", self.error_message, ERROR_MESSAGE_BYTES_MAX,
                   allow_empty=True)
        self._check_status_rules()
        if self.created_contract is not None:
            check_size("receipt.created_contract", self.created_contract, ADDRESS_BYTES)

    def _check_status_rules(self) -> None:
        if self.status is ReceiptStatus.SUCCESS:
            if self.error_code or self.error_message:
                raise MalformedMessage("receipt.error_code", "must be empty on success")
        elif not self.error_code:
            raise MalformedMessage("receipt.error_code", "required unless status is SUCCESS")

    @property
    def succeeded(self) -> bool:
        return self.status is ReceiptStatus.SUCCESS

    def write(self, writer: Writer) -> None:
        writer.fixed(self.tx_hash, HASH_BYTES).u8(int(self.status)).u64(self.gas_used)
        writer.bytes(self.return_data).list(self.events, lambda w, e: e.write(w))
        writer.string(self.error_code).string(self.error_message)
        writer.optional(self.created_contract, _write_address)

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return bytes(writer)

    @property
    def hash(self) -> bytes:
        """sha256(b"zonechain/receipt/v1" + canonical bytes): a leaf of the receipts root."""
        return domain_hash(RECEIPT_HASH_DOMAIN, self.encode())

    @classmethod
    def read(cls, reader: Reader) -> Receipt:
        tx_hash = reader.fixed(HASH_BYTES, "receipt.tx_hash")
        start = reader.offset
        raw_status = reader.u8("receipt.status")
        if raw_status not in tuple(ReceiptStatus):
            raise DecodeError(f"receipt.status: unknown status {raw_status}", start)
        return cls(
            tx_hash,
            ReceiptStatus(raw_status),
            reader.u64("receipt.gas_used"),
            reader.bytes("receipt.return_data"),
            tuple(read_bounded_list(reader, Event.read, "receipt.events", RECEIPT_EVENTS_MAX)),
            reader.string("receipt.error_code"),
            reader.string("receipt.error_message"),
            reader.optional(
                lambda r: r.fixed(ADDRESS_BYTES, "receipt.created_contract"),
                "receipt.created_contract",
            ),
        )

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        return decode_message(data, "receipt", RECEIPT_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.Receipt:
        message = types_pb2.Receipt(
            tx_hash=self.tx_hash, status=_STATUS_TO_PROTO[self.status],
            gas_used=self.gas_used, return_data=self.return_data,
            events=[event.to_proto() for event in self.events],
            error_code=self.error_code, error_message=self.error_message,
        )
        if self.created_contract is not None:
            message.created_contract = self.created_contract
        return message

    @classmethod
    def from_proto(cls, message: types_pb2.Receipt) -> Receipt:
        size = message.ByteSize()
        if size > RECEIPT_BYTES_MAX:
            raise MessageTooLarge("receipt", size, RECEIPT_BYTES_MAX)
        events: list[Event] = []
        for index, item in enumerate(message.events):
            try:
                events.append(Event.from_proto(item))
            except MalformedMessage as error:
                raise error.within(f"receipt.events[{index}]") from None
        created = message.created_contract if message.HasField("created_contract") else None
        return cls(
            message.tx_hash, _check_status(int(message.status)), message.gas_used,
            message.return_data, tuple(events), message.error_code, message.error_message,
            created,
        )
