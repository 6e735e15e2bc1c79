"""Transactions: what a sender signs, and the signed form that travels and is stored.

    Transaction        chain_id, sender (ed25519 public key), nonce, gas_limit,
                       zone, expiry_height (optional), payload
    payload            DeployPayload(code, init_args)
                       | CallPayload(contract, method, args)
                       | GovernancePayload(body)
    SignedTransaction  tx + 64-byte ed25519 signature

The sender signs ``Transaction.signing_bytes()`` = b"zonechain/tx/v1" +
canonical Transaction. The chain id inside the transaction stops a signature
being replayed on another chain; the nonce stops replay on this one.

The transaction id is ``SignedTransaction.hash`` = sha256(b"zonechain/tx-hash/v1"
+ canonical SignedTransaction): it covers the signature, so a cache of verified
signatures keyed by it can never vouch for other signature bytes. It is the id
used everywhere: mempool, block tx root, receipts, GetTransaction, the VM's
``tx_hash`` host call.

Every value is checked on construction (sizes, ranges, the method-name
pattern), so a constructed object always encodes; ``decode`` and ``from_proto``
build through the constructors and raise ``DecodeError`` / ``MalformedMessage``.

Determinism: the canonical encoding (docs/PROTOCOL.md) is the only form that
is hashed or signed; protobuf is transport only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from zonechain.node.types._codec import (
    check_max_bytes,
    check_size,
    check_text,
    check_u64,
    decode_message,
    from_proto_field,
)
from zonechain.node.types.address import account_address
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.hashing import TX_HASH_DOMAIN, TX_SIGNING_DOMAIN, domain_hash
from zonechain.node.types.limits import (
    CALL_ARGS_BYTES_MAX,
    CHAIN_ID_BYTES_MAX,
    CHAIN_ID_PATTERN,
    DEPLOY_CODE_BYTES_MAX,
    GOVERNANCE_BODY_BYTES_MAX,
    METHOD_NAME_BYTES_MAX,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    TX_BYTES_MAX,
    ZONE_NAME_BYTES_MAX,
)
from zonechain.proto import types_pb2
from zonechain.vm.abi import METHOD_NAME_PATTERN
from zonechain.vm.encoding import DecodeError, Reader, Writer
from zonechain.vm.state import ADDRESS_BYTES


def check_chain_id(field_name: str, chain_id: str) -> None:
    check_text(field_name, chain_id, CHAIN_ID_BYTES_MAX)
    if not CHAIN_ID_PATTERN.fullmatch(chain_id):
        raise MalformedMessage(field_name, "must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class DeployPayload:
    """Deploy ``code`` (Wasm) and run its ``init`` with ``init_args``."""

    TAG: ClassVar[int] = 1
    code: bytes
    init_args: bytes = b""

    def __post_init__(self) -> None:
        check_max_bytes("tx.deploy.code", self.code, DEPLOY_CODE_BYTES_MAX)
        check_max_bytes("tx.deploy.init_args", self.init_args, CALL_ARGS_BYTES_MAX)

    def write(self, writer: Writer) -> None:
        writer.bytes(self.code).bytes(self.init_args)

    @classmethod
    def read(cls, reader: Reader) -> DeployPayload:
        return cls(reader.bytes("tx.deploy.code"), reader.bytes("tx.deploy.init_args"))


@dataclass(frozen=True, slots=True)
class CallPayload:
    """Call ``method`` of ``contract`` (20-byte address) with canonical-encoded ``args``."""

    TAG: ClassVar[int] = 2
    contract: bytes
    method: str
    args: bytes = b""

    def __post_init__(self) -> None:
        check_size("tx.call.contract", self.contract, ADDRESS_BYTES)
        check_text("tx.call.method", self.method, METHOD_NAME_BYTES_MAX)
        if not METHOD_NAME_PATTERN.fullmatch(self.method):
            raise MalformedMessage("tx.call.method", "must match [a-z][a-z0-9_]{0,63}")
        check_max_bytes("tx.call.args", self.args, CALL_ARGS_BYTES_MAX)

    def write(self, writer: Writer) -> None:
        writer.fixed(self.contract, ADDRESS_BYTES).string(self.method).bytes(self.args)

    @classmethod
    def read(cls, reader: Reader) -> CallPayload:
        return cls(
            reader.fixed(ADDRESS_BYTES, "tx.call.contract"),
            reader.string("tx.call.method"),
            reader.bytes("tx.call.args"),
        )


@dataclass(frozen=True, slots=True)
class GovernancePayload:
    """A governance action; ``body`` is defined by the permissions module."""

    TAG: ClassVar[int] = 3
    body: bytes

    def __post_init__(self) -> None:
        check_max_bytes("tx.governance.body", self.body, GOVERNANCE_BODY_BYTES_MAX)

    def write(self, writer: Writer) -> None:
        writer.bytes(self.body)

    @classmethod
    def read(cls, reader: Reader) -> GovernancePayload:
        return cls(reader.bytes("tx.governance.body"))


Payload = DeployPayload | CallPayload | GovernancePayload
_PAYLOAD_BY_TAG: dict[int, type[DeployPayload] | type[CallPayload] | type[GovernancePayload]] = {
    DeployPayload.TAG: DeployPayload,
    CallPayload.TAG: CallPayload,
    GovernancePayload.TAG: GovernancePayload,
}


def _read_payload(reader: Reader) -> Payload:
    start = reader.offset
    tag = reader.u8("tx.payload tag")
    payload_type = _PAYLOAD_BY_TAG.get(tag)
    if payload_type is None:
        raise DecodeError(f"tx.payload: unknown payload tag {tag}", start)
    return payload_type.read(reader)


@dataclass(frozen=True, slots=True)
class Transaction:
    """An unsigned transaction. Sign ``signing_bytes()``; see the module docstring."""

    chain_id: str
    sender: bytes
    nonce: int
    gas_limit: int
    zone: str
    payload: Payload
    expiry_height: int | None = None
    _encoded: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _sender_address: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_chain_id("tx.chain_id", self.chain_id)
        check_size("tx.sender", self.sender, PUBLIC_KEY_BYTES)
        check_u64("tx.nonce", self.nonce)
        check_u64("tx.gas_limit", self.gas_limit)
        check_text("tx.zone", self.zone, ZONE_NAME_BYTES_MAX)
        if self.expiry_height is not None:
            check_u64("tx.expiry_height", self.expiry_height)
        if not isinstance(self.payload, DeployPayload | CallPayload | GovernancePayload):
            raise MalformedMessage("tx.payload", "must be a deploy, call or governance payload")

    @property
    def sender_address(self) -> bytes:
        """The 20-byte account address of the sender (cached: a hash, asked for by the
        mempool, the executor and the proposer for every tx)."""
        if self._sender_address is None:
            object.__setattr__(self, "_sender_address", account_address(self.sender))
        assert self._sender_address is not None
        return self._sender_address

    def write(self, writer: Writer) -> None:
        writer.string(self.chain_id).fixed(self.sender, PUBLIC_KEY_BYTES)
        writer.u64(self.nonce).u64(self.gas_limit).string(self.zone)
        writer.optional(self.expiry_height, Writer.u64)
        writer.u8(self.payload.TAG)
        self.payload.write(writer)

    def encode(self) -> bytes:
        """The canonical bytes (cached: the object is immutable)."""
        if self._encoded is None:
            writer = Writer()
            self.write(writer)
            object.__setattr__(self, "_encoded", bytes(writer))
        assert self._encoded is not None
        return self._encoded

    def signing_bytes(self) -> bytes:
        """What the sender signs: b"zonechain/tx/v1" + canonical bytes."""
        return TX_SIGNING_DOMAIN + self.encode()

    @classmethod
    def read(cls, reader: Reader) -> Transaction:
        chain_id = reader.string("tx.chain_id")
        sender = reader.fixed(PUBLIC_KEY_BYTES, "tx.sender")
        nonce = reader.u64("tx.nonce")
        gas_limit = reader.u64("tx.gas_limit")
        zone = reader.string("tx.zone")
        expiry_height = reader.optional(lambda r: r.u64("tx.expiry_height"), "tx.expiry_height")
        payload = _read_payload(reader)
        return cls(chain_id, sender, nonce, gas_limit, zone, payload, expiry_height)

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        return decode_message(data, "tx", TX_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.Transaction:
        message = types_pb2.Transaction(
            chain_id=self.chain_id, sender=self.sender, nonce=self.nonce,
            gas_limit=self.gas_limit, zone=self.zone,
        )
        if self.expiry_height is not None:
            message.expiry_height = self.expiry_height
        payload = self.payload
        if isinstance(payload, DeployPayload):
            message.deploy.code = payload.code
            message.deploy.init_args = payload.init_args
        elif isinstance(payload, CallPayload):
            message.call.contract = payload.contract
            message.call.method = payload.method
            message.call.args = payload.args
        else:
            message.governance.body = payload.body
        return message

    @classmethod
    def from_proto(cls, message: types_pb2.Transaction) -> Transaction:
        kind = message.WhichOneof("payload")
        payload: Payload
        if kind == "deploy":
            payload = DeployPayload(message.deploy.code, message.deploy.init_args)
        elif kind == "call":
            payload = CallPayload(message.call.contract, message.call.method, message.call.args)
        elif kind == "governance":
            payload = GovernancePayload(message.governance.body)
        else:
            raise MalformedMessage("tx.payload", "missing (deploy, call or governance)")
        expiry = message.expiry_height if message.HasField("expiry_height") else None
        return cls(
            message.chain_id, message.sender, message.nonce, message.gas_limit,
            message.zone, payload, expiry,
        )


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A transaction and its sender's signature; ``hash`` is the transaction id."""

    tx: Transaction
    signature: bytes
    _encoded: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_size("signature", self.signature, SIGNATURE_BYTES)

    def write(self, writer: Writer) -> None:
        writer.fixed(self.encode(), len(self.encode()))

    def encode(self) -> bytes:
        """Canonical Transaction followed by the 64 signature bytes (cached)."""
        if self._encoded is None:
            object.__setattr__(self, "_encoded", self.tx.encode() + self.signature)
        assert self._encoded is not None
        return self._encoded

    @property
    def hash(self) -> bytes:
        """The transaction id: sha256(b"zonechain/tx-hash/v1" + canonical bytes)."""
        if self._hash is None:
            object.__setattr__(self, "_hash", domain_hash(TX_HASH_DOMAIN, self.encode()))
        assert self._hash is not None
        return self._hash

    @classmethod
    def read(cls, reader: Reader) -> SignedTransaction:
        tx = Transaction.read(reader)
        return cls(tx, reader.fixed(SIGNATURE_BYTES, "tx.signature"))

    @classmethod
    def decode(cls, data: bytes) -> SignedTransaction:
        signed = decode_message(data, "signed_tx", TX_BYTES_MAX, cls.read)
        # The encoding is canonical, so the input bytes ARE the encodings.
        object.__setattr__(signed, "_encoded", bytes(data))
        object.__setattr__(signed.tx, "_encoded", bytes(data[:-SIGNATURE_BYTES]))
        return signed

    def to_proto(self) -> types_pb2.SignedTransaction:
        return types_pb2.SignedTransaction(tx=self.tx.to_proto(), signature=self.signature)

    @classmethod
    def from_proto(cls, message: types_pb2.SignedTransaction) -> SignedTransaction:
        size = message.ByteSize()
        if size > TX_BYTES_MAX:
            raise MessageTooLarge("signed_tx", size, TX_BYTES_MAX)
        if not message.HasField("tx"):
            raise MalformedMessage("signed_tx.tx", "missing")
        tx = from_proto_field("signed_tx", lambda: Transaction.from_proto(message.tx))
        return cls(tx, message.signature)
