"""What the clients return, and the conversions from the node's wire messages.

Guarantees: every value a client returns is built here from a ``services_pb2``
message through the validating ``from_proto`` of zonechain.node.types; a
message that does not convert (a buggy or hostile node) raises ``NodeError``
naming the call, never a protobuf, Key or Value error. The sync and the
async client share these functions, so they return identical values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from zonechain.node.types.block import Block, BlockHeader
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.receipt import Event, Receipt, ReceiptStatus
from zonechain.node.types.transaction import SignedTransaction, Transaction
from zonechain.proto import services_pb2, types_pb2
from zonechain.sdk.errors import MempoolRejected, NodeError
from zonechain.vm.encoding import DecodeError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Status:
    """A node's view of the chain (``Client.status``)."""

    chain_id: str
    height: int
    latest_block_hash: bytes
    state_root: bytes
    validator: bytes | None
    catching_up: bool
    mempool_size: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """One transaction's admission: accepted into the mempool, or why not."""

    tx_hash: bytes
    accepted: bool
    error_code: str = ""
    error_message: str = ""

    def error(self) -> MempoolRejected | None:
        """The rejection as an exception (None if accepted), to raise or inspect."""
        if self.accepted:
            return None
        return MempoolRejected(self.error_code, self.error_message, self.tx_hash)


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    """Where a transaction is: pending in a mempool, or at (height, index) of a block."""

    tx: SignedTransaction
    pending: bool
    height: int
    index: int


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A committed block and the certificate that committed it (None if the node has none)."""

    block: Block
    commit: Commit | None


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A read-only contract call's result bytes, as of the state after ``height``."""

    height: int
    return_data: bytes


@dataclass(frozen=True, slots=True)
class StateValue:
    """A state key's value (None: absent) after ``height``, with the proof when asked."""

    height: int
    key: bytes
    value: bytes | None
    proof: bytes = b""
    header: BlockHeader | None = None
    commit: Commit | None = None
    verified: bool = False


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event from ``stream_events``: where it was emitted, and the event."""

    height: int
    tx_hash: bytes
    event_index: int
    event: Event


@dataclass(frozen=True, slots=True)
class Simulation:
    """A dry run (``simulate``): what the tx would do as the next block's only tx.

    ``valid`` False: a block or the mempool would refuse the tx (``error_code``:
    ``bad_nonce``, ``bad_signature``, ``expired``...) and ``receipt`` is None.
    Otherwise ``receipt`` is the one its execution gives (gas, return data,
    events, status with its own error code and message). Nothing was committed.
    """

    height: int
    """The state it ran on: after this height (as block height + 1)."""
    valid: bool
    error_code: str = ""
    error_message: str = ""
    receipt: Receipt | None = None

    @property
    def ok(self) -> bool:
        """Valid, and its execution succeeded."""
        return self.receipt is not None and self.receipt.status == ReceiptStatus.SUCCESS

    @property
    def gas_used(self) -> int:
        return 0 if self.receipt is None else self.receipt.gas_used

    @property
    def return_data(self) -> bytes:
        return b"" if self.receipt is None else self.receipt.return_data

    @property
    def events(self) -> tuple[Event, ...]:
        return () if self.receipt is None else self.receipt.events


def convert(call: str, make: Callable[[], T]) -> T:
    """Run a from_proto conversion; a malformed answer becomes NodeError naming ``call``."""
    try:
        return make()
    except (MalformedMessage, MessageTooLarge, DecodeError, ValueError, TypeError) as error:
        raise NodeError(f"{call}: the node sent an invalid answer: {error}") from None


def status_from_proto(message: services_pb2.StatusResponse) -> Status:
    return Status(
        chain_id=message.chain_id, height=message.height,
        latest_block_hash=message.latest_block_hash, state_root=message.state_root,
        validator=message.validator or None, catching_up=message.catching_up,
        mempool_size=message.mempool_size,
    )


def submit_result_from_proto(
    message: services_pb2.SubmitResult, expected_hash: bytes
) -> SubmitResult:
    if message.tx_hash and message.tx_hash != expected_hash:
        raise NodeError(
            f"SubmitTransaction: the node answered for tx {message.tx_hash.hex()}, "
            f"sent {expected_hash.hex()}"
        )
    if not message.accepted and not message.error_code:
        raise NodeError("SubmitTransaction: a rejection without a reason code")
    return SubmitResult(expected_hash, message.accepted, message.error_code,
                        message.error_message)


def receipt_from_proto(message: services_pb2.GetReceiptResponse, tx_hash: bytes) -> Receipt | None:
    if not message.found:
        return None
    receipt = convert("GetReceipt", lambda: Receipt.from_proto(message.receipt))
    if receipt.tx_hash != tx_hash:
        raise NodeError(f"GetReceipt: asked for {tx_hash.hex()}, got {receipt.tx_hash.hex()}")
    return receipt


def transaction_from_proto(
    message: services_pb2.GetTransactionResponse, tx_hash: bytes
) -> TransactionInfo | None:
    if not message.found:
        return None
    signed = convert("GetTransaction", lambda: SignedTransaction.from_proto(message.tx))
    if signed.hash != tx_hash:
        raise NodeError(f"GetTransaction: asked for {tx_hash.hex()}, got {signed.hash.hex()}")
    return TransactionInfo(signed, message.pending, message.height, message.index)


def block_from_proto(message: services_pb2.GetBlockResponse, height: int) -> BlockInfo | None:
    if not message.found:
        return None
    block = convert("GetBlock", lambda: Block.from_proto(message.block))
    convert("GetBlock", block.check_contents)
    if height and block.header.height != height:
        raise NodeError(f"GetBlock: asked for height {height}, got {block.header.height}")
    commit = (convert("GetBlock", lambda: Commit.from_proto(message.commit))
              if message.HasField("commit") else None)
    return BlockInfo(block, commit)


def block_with_commit_from_proto(message: services_pb2.BlockWithCommit) -> BlockInfo:
    block = convert("StreamBlocks", lambda: Block.from_proto(message.block))
    convert("StreamBlocks", block.check_contents)
    commit = (convert("StreamBlocks", lambda: Commit.from_proto(message.commit))
              if message.HasField("commit") else None)
    return BlockInfo(block, commit)


def event_from_proto(message: services_pb2.EventRecord) -> EventRecord:
    event = convert("StreamEvents", lambda: Event.from_proto(message.event))
    return EventRecord(message.height, message.tx_hash, message.event_index, event)


def state_value_from_proto(message: services_pb2.QueryResponse, key: bytes) -> StateValue:
    value = message.value if message.HasField("value") else None
    header = (convert("Query", lambda: BlockHeader.from_proto(message.header))
              if message.HasField("header") else None)
    commit = (convert("Query", lambda: Commit.from_proto(message.commit))
              if message.HasField("commit") else None)
    return StateValue(message.height, key, value, message.proof, header, commit)


def view_call_request(
    contract: bytes, method: str, args: bytes, height: int | None, gas_limit: int
) -> services_pb2.QueryRequest:
    return services_pb2.QueryRequest(
        height=height or 0,
        view_call=services_pb2.ViewCallQuery(
            contract=contract, method=method, args=args, gas_limit=gas_limit
        ),
    )


def state_key_request(key: bytes, height: int | None, prove: bool) -> services_pb2.QueryRequest:
    return services_pb2.QueryRequest(
        height=height or 0, prove=prove, state_key=services_pb2.StateKeyQuery(key=key)
    )


def simulate_request(tx: SignedTransaction | Transaction) -> services_pb2.SimulateRequest:
    """A signed tx as is; an unsigned one with an empty signature (an unsigned dry run)."""
    if isinstance(tx, SignedTransaction):
        return services_pb2.SimulateRequest(tx=tx.to_proto())
    return services_pb2.SimulateRequest(tx=types_pb2.SignedTransaction(tx=tx.to_proto()))


def simulation_from_proto(message: services_pb2.SimulateResponse) -> Simulation:
    if not message.valid:
        if not message.error_code:
            raise NodeError("Simulate: an invalid tx without a reason code")
        return Simulation(message.height, False, message.error_code, message.error_message)
    if not message.HasField("receipt"):
        raise NodeError("Simulate: a valid tx without a receipt")
    receipt = convert("Simulate", lambda: Receipt.from_proto(message.receipt))
    return Simulation(message.height, True, receipt=receipt)
