"""The client gRPC service (proto/services.proto ``Client``) of a node.

What each call answers (tests/sdk/fake_node.py is the model the SDK is tested against):

    SubmitTransaction(s)  mempool admission: accepted, or the mempool's reason code
                          (node/mempool.py) with its message; admitted txs are gossiped.
                          Three doors: one tx (unary), a client stream of txs, and
                          SubmitTransactionBatch, many txs in one message: the
                          cheapest per tx (grpc Python wakes a thread per streamed
                          message), and all-or-nothing on a malformed tx
    GetTransaction        pending (in the mempool) or the (height, index) of its block
    GetReceipt            the stored receipt with its (height, index)
    GetBlock              block + the certificate that committed it; height 0 = latest
    Status                chain id, height, last block hash, state root after it,
                          this node's validator address, catching_up, mempool size
    Query                 at ``height`` H, any committed height from 1 (0 asks for
                          the newest; the node keeps every height's values,
                          node/store/history.py, and every tree version):
                          view call: read-only method on the state after H, with
                          block H's height and time in its context (a failed call:
                          error_code/error_message in the answer);
                          state key: its value after H (H <= latest), or with
                          ``prove`` (H <= latest - 1, the newest PROVABLE height by
                          default) with the Merkle proof at tree version H, header
                          H + 1 (whose last_state_root commits H's state) and that
                          header's certificate
    StreamBlocks/Events   from a height on, then live as blocks commit; resumable by
                          asking again from the last height seen. StreamBlocks with
                          ``with_receipts``: each block with its receipts in tx order,
                          a prefix when they would pass ``STREAM_WITH_RECEIPTS_BYTES_MAX``
    Simulate              a dry run of one tx on the latest state, as the only tx of
                          the next block (height latest + 1, time now or later): the
                          receipt it would get (gas, return data, events, status,
                          error code + message), or ``valid=false`` with the reason
                          code a block or the mempool would refuse it for
                          (bad_nonce, bad_signature, expired...). Runs through the
                          ledger's executor over an overlay of the committed state:
                          nothing is written, committed or admitted to the mempool.
                          An empty signature is an unsigned dry run (every rule but
                          the signature; the receipt's tx_hash is then that of the
                          tx with 64 zero signature bytes); a gas limit above
                          ``SIMULATE_GAS_MAX`` is INVALID_ARGUMENT

Who may read (node/query_auth.py): in a permissioned network, a view call or a
contract-storage read of a zone whose read policy is not open needs a
``reader`` signature that the zone's read policy admits; otherwise
PERMISSION_DENIED with "code: message" naming the rule; a Simulate of a call of
such a contract likewise (signed, by a sender the read policy admits). Blocks, receipts,
transactions and event streams are consensus data every validator
organisation holds and stay open (docs/GOVERNANCE.md, "Who may read").

Doors: every request is parsed from raw bytes here (identity deserializers),
so bytes that are not valid protobuf, a wrong-sized hash or address, or a
transaction that breaks its type's rules end the call with INVALID_ARGUMENT
naming the field; a request over ``CLIENT_MESSAGE_BYTES_MAX`` is refused by
grpc with RESOURCE_EXHAUSTED, as is a batch over ``SUBMIT_BATCH_TXS_MAX`` or a
stream beyond ``STREAMS_MAX``; a height this node cannot serve (above the
latest, or above latest - 1 with ``prove``, or below the lowest provable /
readable height of a node with ``storage.retain_heights``) is
OUT_OF_RANGE, naming the heights served. None of these affects other calls:
the node keeps serving.

Transport: plaintext by default (loopback devnets); with ``client_tls`` in the
node config, server-side TLS with that certificate and key (``ClientServer``).
A certificate or key that does not load stops the node at start
(``ClientTlsError``), never a silent fallback to plaintext.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from typing import TYPE_CHECKING, Final, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from zonechain.node.config import ClientTls, HostPort
from zonechain.node.executor import (
    BLOCK_GAS_EXCEEDED,
    BlockEnvironment,
    Executor,
    InvalidBlock,
    static_fault,
)
from zonechain.node.ledger import QUERY_GAS_MAX, HeightUnavailable, Ledger
from zonechain.node.mempool import MempoolRejection
from zonechain.node.query_auth import ReadRefused, check_read, check_simulation
from zonechain.node.state.proof import StateProof
from zonechain.node.types.block import Block
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.hashing import ZERO_HASH
from zonechain.node.types.limits import BLOCK_BYTES_MAX, SIGNATURE_BYTES, TX_BYTES_MAX
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction
from zonechain.proto import services_pb2, types_pb2
from zonechain.vm.runtime import Outcome
from zonechain.vm.state import ADDRESS_BYTES

if TYPE_CHECKING:
    from zonechain.node.node import Node

M = TypeVar("M", bound=Message)

CLIENT_SERVICE: Final = services_pb2.DESCRIPTOR.services_by_name["Client"].full_name
"""``zonechain.v1.Client``, read from the generated descriptor."""

CLIENT_MESSAGE_BYTES_MAX: Final = TX_BYTES_MAX + 64 * 1024
"""Largest request message: one maximal transaction and its protobuf framing."""

CLIENT_SEND_BYTES_MAX: Final = BLOCK_BYTES_MAX + 1024 * 1024
"""Largest answer: a maximal block with its certificate (GetBlock, StreamBlocks)."""

STREAM_WITH_RECEIPTS_BYTES_MAX: Final = 4 * 1024 * 1024
"""Largest streamed block message once receipts are added (``with_receipts``): gRPC's
default receive limit, so a client with default channel options reads every one.
Receipts that would pass it are left for GetReceipt (BlockWithCommit.receipts is
then a prefix); a block already over it gets none. Below CLIENT_SEND_BYTES_MAX."""

SUBMIT_BATCH_TXS_MAX: Final = 10_000
"""Transactions in one SubmitTransactions stream or SubmitTransactionBatch message: one
protocol block's worth (a batch message is also bounded by CLIENT_MESSAGE_BYTES_MAX)."""

CLIENT_WORKERS: Final = 64
"""Threads serving client calls (each open stream holds one)."""

STREAMS_MAX: Final = 32
"""Open StreamBlocks/StreamEvents calls at once: half the workers, so that
unary calls always find a thread."""

STREAM_WAIT_S: Final = 1.0
"""A stream at the tip re-checks that its client is still there this often."""

QUERY_TIMEOUT_S: Final = 30.0
"""A view call waits at most this long for the query thread (a block being
executed holds the ledger; QUERY_GAS_MAX bounds the call itself)."""

SIMULATE_GAS_MAX: Final = QUERY_GAS_MAX
"""A dry run costs its sender nothing (no nonce, no block space), so like a view
call it may run at most this much gas; a tx above it is refused, not cut short,
so that every answer is the one the real execution would give."""

STATE_KEY_BYTES_MAX: Final = 1024
"""Longest state key a client may ask for: above every key layout in vm/state.py."""

HASH_BYTES: Final = 32


class ClientService:
    """The Client service's handlers over one ``Node``."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._streams = 0
        self._lock = threading.Lock()

    def generic_handler(self) -> grpc.GenericRpcHandler[bytes, bytes]:
        unary = grpc.unary_unary_rpc_method_handler
        stream_out = grpc.unary_stream_rpc_method_handler
        return grpc.method_handlers_generic_handler(CLIENT_SERVICE, {
            "SubmitTransaction": unary(self.submit_transaction),
            "SubmitTransactions": grpc.stream_unary_rpc_method_handler(
                self.submit_transactions),
            "SubmitTransactionBatch": unary(self.submit_transaction_batch),
            "GetTransaction": unary(self.get_transaction),
            "GetReceipt": unary(self.get_receipt),
            "GetBlock": unary(self.get_block),
            "Status": unary(self.status),
            "Query": unary(self.query),
            "StreamBlocks": stream_out(self.stream_blocks),
            "StreamEvents": stream_out(self.stream_events),
            "Simulate": unary(self.simulate),
        })

    def _refuse(self, context: grpc.ServicerContext, code: grpc.StatusCode,
                message: str) -> None:
        self.node.metrics.add("client_requests_rejected_total")
        context.abort(code, message)

    def _parse(self, message_class: type[M], data: bytes, context: grpc.ServicerContext) -> M:
        try:
            return message_class.FromString(data)
        except (ProtobufDecodeError, ValueError) as error:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"{message_class.DESCRIPTOR.name}: not valid protobuf ({error})")
            raise AssertionError("abort returned") from None

    def _transaction(self, data: bytes, context: grpc.ServicerContext,
                     where: str = "tx") -> SignedTransaction:
        return self._decoded(self._parse(types_pb2.SignedTransaction, data, context),
                             context, where)

    def _decoded(self, wire: types_pb2.SignedTransaction, context: grpc.ServicerContext,
                 where: str) -> SignedTransaction:
        """The tx of a parsed message, or the call ends: RESOURCE_EXHAUSTED / INVALID_ARGUMENT."""
        try:
            return SignedTransaction.from_proto(wire)
        except MessageTooLarge as error:
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, f"{where}: {error}")
        except MalformedMessage as error:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, f"{where}: {error}")
        raise AssertionError("abort returned")

    # ---- submitting ------------------------------------------------------------------

    def _admit(self, signed: SignedTransaction) -> services_pb2.SubmitResult:
        try:
            self.node.admit(signed)
        except MempoolRejection as rejection:
            return services_pb2.SubmitResult(tx_hash=signed.hash, accepted=False,
                                             error_code=rejection.reason_code,
                                             error_message=rejection.message)
        return services_pb2.SubmitResult(tx_hash=signed.hash, accepted=True)

    def submit_transaction(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        return self._admit(self._transaction(data, context)).SerializeToString()

    def submit_transactions(self, requests: Iterator[bytes],
                            context: grpc.ServicerContext) -> bytes:
        results = []
        for index, data in enumerate(requests):
            if index >= SUBMIT_BATCH_TXS_MAX:
                self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                             f"more than {SUBMIT_BATCH_TXS_MAX} transactions in one stream")
            results.append(self._admit(self._transaction(data, context, f"txs[{index}]")))
        return services_pb2.SubmitBatchResult(results=results).SerializeToString()

    def submit_transaction_batch(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        """Every tx is decoded before any is admitted: a malformed one refuses the whole
        batch (INVALID_ARGUMENT naming ``txs[i]``) and nothing of it reaches the mempool."""
        batch = self._parse(services_pb2.TransactionBatch, data, context)
        if len(batch.txs) > SUBMIT_BATCH_TXS_MAX:
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"{len(batch.txs)} transactions in one batch; at most "
                         f"{SUBMIT_BATCH_TXS_MAX}")
        decoded = [self._decoded(wire, context, f"txs[{index}]")
                   for index, wire in enumerate(batch.txs)]
        results = [self._admit(signed) for signed in decoded]
        return services_pb2.SubmitBatchResult(results=results).SerializeToString()

    # ---- reads ---------------------------------------------------------------------------

    def _hash(self, value: bytes, what: str, context: grpc.ServicerContext) -> bytes:
        if len(value) != HASH_BYTES:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"{what}: must be {HASH_BYTES} bytes, got {len(value)}")
        return value

    def get_transaction(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        request = self._parse(services_pb2.GetTransactionRequest, data, context)
        tx_hash = self._hash(request.tx_hash, "tx_hash", context)
        pending = self.node.mempool.get(tx_hash)
        if pending is not None:
            return services_pb2.GetTransactionResponse(
                found=True, tx=pending.to_proto(), pending=True).SerializeToString()
        location = self.node.store.tx_location(tx_hash)
        pair = None if location is None else self.node.block_at(location.height)
        if location is None or pair is None:
            return services_pb2.GetTransactionResponse(found=False).SerializeToString()
        signed = pair[0].txs[location.index]
        return services_pb2.GetTransactionResponse(
            found=True, tx=signed.to_proto(), height=location.height,
            index=location.index).SerializeToString()

    def get_receipt(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        request = self._parse(services_pb2.GetReceiptRequest, data, context)
        tx_hash = self._hash(request.tx_hash, "tx_hash", context)
        raw = self.node.store.load_receipt(tx_hash)
        location = self.node.store.tx_location(tx_hash)
        if raw is None or location is None:
            return services_pb2.GetReceiptResponse(found=False).SerializeToString()
        return services_pb2.GetReceiptResponse(
            found=True, receipt=Receipt.decode(raw).to_proto(), height=location.height,
            index=location.index).SerializeToString()

    def get_block(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        request = self._parse(services_pb2.GetBlockRequest, data, context)
        pair = self.node.block_at(request.height or self.node.ledger.height)
        if pair is None:
            return services_pb2.GetBlockResponse(found=False).SerializeToString()
        block, commit = pair
        return services_pb2.GetBlockResponse(
            found=True, block=block.to_proto(), commit=commit.to_proto()).SerializeToString()

    def status(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        self._parse(services_pb2.StatusRequest, data, context)
        node = self.node
        tip = node.tip  # one commit's height, hash and root, without waiting for the ledger
        height, block_hash, root = tip.height, tip.block_hash, tip.state_root
        validator = node.key.address if node.is_validator and node.key is not None else b""
        return services_pb2.StatusResponse(
            chain_id=node.chain_id, height=height,
            latest_block_hash=block_hash if height else ZERO_HASH, state_root=root,
            validator=validator, catching_up=node.sync.catching_up,
            mempool_size=len(node.mempool)).SerializeToString()

    # ---- Query -----------------------------------------------------------------------------

    def query(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        request = self._parse(services_pb2.QueryRequest, data, context)
        self._check_reader(request, context)
        kind = request.WhichOneof("query")
        if kind == "view_call":
            return self._view_call(request, context).SerializeToString()
        if kind == "state_key":
            return self._state_query(request, context).SerializeToString()
        self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                     "query: set either state_key or view_call")
        raise AssertionError("abort returned")

    def _check_reader(self, request: services_pb2.QueryRequest,
                      context: grpc.ServicerContext) -> None:
        """The zone read guard (node/query_auth.py): PERMISSION_DENIED naming the rule."""
        try:
            check_read(self.node.store, request, self.node.chain_id, self.node.now_ms())
        except ReadRefused as refusal:
            self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, str(refusal))

    def _view_call(self, request: services_pb2.QueryRequest,
                   context: grpc.ServicerContext) -> services_pb2.QueryResponse:
        call = request.view_call
        if len(call.contract) != ADDRESS_BYTES:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"view_call.contract: must be {ADDRESS_BYTES} bytes")
        ledger = self.node.ledger
        latest = ledger.height
        height = request.height or latest
        if height > latest:
            self._refuse(context, grpc.StatusCode.OUT_OF_RANGE,
                         _range_message(height, latest, latest, prove=False))
        gas_limit = min(call.gas_limit or QUERY_GAS_MAX, QUERY_GAS_MAX)

        def run() -> Outcome:
            return ledger.query(call.contract, call.method, call.args, height=height,
                                gas_limit=gas_limit)

        try:
            outcome = self.node.run_query(run).result(QUERY_TIMEOUT_S)
        except futures.TimeoutError:
            self._refuse(context, grpc.StatusCode.DEADLINE_EXCEEDED, "the query timed out")
            raise
        except HeightUnavailable as problem:
            self._refuse(context, grpc.StatusCode.OUT_OF_RANGE, str(problem))
            raise
        except ValueError as problem:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, f"view_call: {problem}")
            raise
        except RuntimeError as problem:  # the node is stopping
            self._refuse(context, grpc.StatusCode.UNAVAILABLE, str(problem))
            raise
        if outcome.ok:
            return services_pb2.QueryResponse(height=height, return_data=outcome.return_data)
        failure = outcome.error
        return services_pb2.QueryResponse(
            height=height,
            error_code=failure.code if failure is not None else "contract_error",
            error_message=failure.message if failure is not None else "the call failed")

    def _state_query(self, request: services_pb2.QueryRequest,
                     context: grpc.ServicerContext) -> services_pb2.QueryResponse:
        key = request.state_key.key
        if not 1 <= len(key) <= STATE_KEY_BYTES_MAX:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"state_key.key: must be 1..{STATE_KEY_BYTES_MAX} bytes")
        ledger = self.node.ledger
        latest = ledger.height  # heights only grow: everything up to it stays readable
        newest = latest - 1 if request.prove else latest
        height = request.height or newest
        lowest = max(ledger.lowest_provable_height, ledger.lowest_readable_height) \
            if request.prove else ledger.lowest_readable_height
        if newest < 0 or height > newest or height < lowest:
            self._refuse(context, grpc.StatusCode.OUT_OF_RANGE, _range_message(
                height, newest, latest, request.prove, lowest))
        try:
            read = ledger.read_state(key, height=height, prove=request.prove)
        except HeightUnavailable as problem:  # e.g. a tree version pruned away
            self._refuse(context, grpc.StatusCode.OUT_OF_RANGE, str(problem))
            raise
        response = services_pb2.QueryResponse(height=height)
        if read.value is not None:
            response.value = read.value
        if read.proof is not None:
            self._add_proof(response, read.proof, height, context)
        return response

    def _add_proof(self, response: services_pb2.QueryResponse, proof: StateProof,
                   height: int, context: grpc.ServicerContext) -> None:
        """The proof, header ``height + 1`` (its last_state_root commits the state
        after ``height``) and that header's certificate."""
        pair = self.node.block_at(height + 1)
        if pair is None:
            self._refuse(context, grpc.StatusCode.UNAVAILABLE,
                         f"block {height + 1} and its certificate are not stored")
            raise AssertionError("abort returned")
        block, commit = pair
        response.proof = proof.encode()
        response.header.CopyFrom(block.header.to_proto())
        response.commit.CopyFrom(commit.to_proto())

    # ---- Simulate ----------------------------------------------------------------------------

    def simulate(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        request = self._parse(services_pb2.SimulateRequest, data, context)
        if not request.HasField("tx"):
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "tx: missing")
        wire = request.tx
        signed_run = bool(wire.signature)
        if not signed_run:
            wire = types_pb2.SignedTransaction()
            wire.CopyFrom(request.tx)
            wire.signature = bytes(SIGNATURE_BYTES)
        signed = self._transaction(wire.SerializeToString(), context)
        if signed.tx.gas_limit > SIMULATE_GAS_MAX:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"tx.gas_limit: a dry run may use at most {SIMULATE_GAS_MAX} gas, "
                         f"got {signed.tx.gas_limit}")
        try:  # a dry run's return data is a read of the contract (node/query_auth.py)
            check_simulation(self.node.store, signed, signed_run)
        except ReadRefused as refusal:
            self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, str(refusal))
        node = self.node
        ledger = node.ledger

        def run() -> services_pb2.SimulateResponse:
            return simulate_transaction(ledger, signed, node.now_ms(),
                                        check_signature=signed_run,
                                        tip_time_ms=ledger.time_at)

        try:
            response = node.run_query(run).result(QUERY_TIMEOUT_S)
        except futures.TimeoutError:
            self._refuse(context, grpc.StatusCode.DEADLINE_EXCEEDED, "the simulation timed out")
            raise
        except RuntimeError as problem:  # the node is stopping
            self._refuse(context, grpc.StatusCode.UNAVAILABLE, str(problem))
            raise
        return response.SerializeToString()

    # ---- streams -----------------------------------------------------------------------------

    def _open_stream(self, context: grpc.ServicerContext) -> None:
        with self._lock:
            full = self._streams >= STREAMS_MAX
            if not full:
                self._streams += 1
        if full:
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"more than {STREAMS_MAX} streams open")

    def _close_stream(self) -> None:
        with self._lock:
            self._streams -= 1

    def _blocks_from(self, height: int,
                     context: grpc.ServicerContext) -> Iterator[tuple[Block, bytes]]:
        """(block, encoded BlockWithCommit) from ``height`` on, waiting at the tip."""
        node = self.node
        height = max(height, 1)
        while context.is_active() and not node.stopping:
            pair = node.block_at(height)
            if pair is None:
                node.wait_for_height(height, STREAM_WAIT_S)
                continue
            block, commit = pair
            yield block, services_pb2.BlockWithCommit(
                block=block.to_proto(), commit=commit.to_proto()).SerializeToString()
            height += 1

    def stream_blocks(self, data: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        request = self._parse(services_pb2.StreamBlocksRequest, data, context)
        self._open_stream(context)
        try:
            for block, encoded in self._blocks_from(request.from_height, context):
                if request.with_receipts:
                    budget = STREAM_WITH_RECEIPTS_BYTES_MAX - len(encoded)
                    yield encoded + self._receipts_field(block, budget)
                else:
                    yield encoded
        finally:
            self._close_stream()

    def _receipts_field(self, block: Block, budget: int) -> bytes:
        """``BlockWithCommit.receipts`` of ``block`` as encoded field bytes, to append
        (protobuf concatenation appends repeated fields).

        The longest prefix of the block's receipts (tx order) whose encoding fits in
        ``budget`` bytes; a receipt missing from the store ends the prefix.
        """
        parts: list[bytes] = []
        size = 0
        for signed in block.txs:
            raw = self.node.store.load_receipt(signed.hash)
            if raw is None:
                break
            item = services_pb2.BlockWithCommit(
                receipts=[Receipt.decode(raw).to_proto()]).SerializeToString()
            size += len(item)
            if size > budget:
                break
            parts.append(item)
        return b"".join(parts)

    def stream_events(self, data: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        request = self._parse(services_pb2.StreamEventsRequest, data, context)
        if request.contract and len(request.contract) != ADDRESS_BYTES:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"contract: must be empty or {ADDRESS_BYTES} bytes")
        self._open_stream(context)
        try:
            for block, _ in self._blocks_from(request.from_height, context):
                yield from _events_of(block, self.node.receipts_of(block), request)
        finally:
            self._close_stream()


def _events_of(block: Block, receipts: list[Receipt],
               request: services_pb2.StreamEventsRequest) -> Iterator[bytes]:
    for receipt in receipts:
        for index, event in enumerate(receipt.events):
            if request.contract and event.contract != request.contract:
                continue
            if request.topic and event.topic != request.topic:
                continue
            yield services_pb2.EventRecord(
                height=block.height, tx_hash=receipt.tx_hash, event_index=index,
                event=event.to_proto()).SerializeToString()


class _UnsignedExecutor(Executor):
    """The ledger's executor less the signature rule: an unsigned dry run."""

    def verify_signatures(self, txs: Sequence[SignedTransaction]) -> None:
        gas_total = 0
        for index, signed in enumerate(txs):
            fault = static_fault(signed, self.chain_id, gas_max=self.block_gas_max)
            if fault is not None:
                raise InvalidBlock(fault.code, fault.message, index)
            gas_total += signed.tx.gas_limit
            if gas_total > self.block_gas_max:
                raise InvalidBlock(BLOCK_GAS_EXCEEDED, "the gas limit exceeds a block's", index)


def simulate_transaction(
    ledger: Ledger, signed: SignedTransaction, now_ms: int, *, check_signature: bool = True,
    tip_time_ms: Callable[[int], int] | None = None,
) -> services_pb2.SimulateResponse:
    """Execute ``signed`` as the only tx of block latest + 1, over the committed state.

    The executor runs over its own overlay of the store and its writes are dropped:
    nothing reaches the store, the state tree or the mempool. Run it on a thread with
    the VM's stack (``Node.run_query``).
    """
    with ledger._lock:  # the VM and the tip are shared with block execution
        height = ledger.height
        earliest = (tip_time_ms(height) if tip_time_ms is not None else 0) + 1
        env = BlockEnvironment(ledger.chain_id, height + 1, max(now_ms, earliest))
        executor = ledger.executor
        if not check_signature:
            executor = _UnsignedExecutor(
                executor.vm, executor.chain_id, block_gas_max=executor.block_gas_max,
                zone_policy=executor.zone_policy, governance=executor.governance)
        try:
            receipts, _, _ = executor.execute_transactions(env, (signed,), ledger.store)
        except InvalidBlock as invalid:
            return services_pb2.SimulateResponse(
                height=height, valid=False, error_code=invalid.code,
                error_message=invalid.message)
    return services_pb2.SimulateResponse(height=height, valid=True,
                                         receipt=receipts[0].to_proto())


def _range_message(height: int, newest: int, latest: int, prove: bool,
                   lowest: int = 1) -> str:
    """Why ``height`` is refused, naming the heights served (``lowest``: the lowest
    provable, or readable, height of a node that prunes, see docs/OPERATIONS.md)."""
    if newest < 0:
        return "no height is provable yet (the first block has not committed)"
    if newest == 0:
        what = "is provable" if prove else "is readable"
        return f"height {height}: only genesis {what} yet (height 0 asks for it)"
    what = "provable" if prove else "readable"
    pruned = f"; heights below {lowest} are pruned" if lowest > 1 else ""
    return (f"height {height}: this node serves heights {max(lowest, 1)}..{newest} ({what}; "
            f"0 asks for {newest}; latest committed {latest}{pruned})")


class ClientTlsError(OSError):
    """The client service's TLS certificate or key cannot be read or does not load."""


def server_credentials(tls: ClientTls) -> grpc.ServerCredentials:
    """gRPC server credentials from ``tls``'s PEM files (no client certificate asked)."""
    try:
        certificate = tls.certificate.read_bytes()
        key = tls.key.read_bytes()
    except OSError as error:
        raise ClientTlsError(f"client TLS: cannot read {error.filename}: "
                             f"{error.strerror}") from None
    # Load both here: grpc only parses them in its C core, where a bad file
    # would surface late and without the file's name.
    try:
        public_key = x509.load_pem_x509_certificate(certificate).public_key()
    except ValueError:
        raise ClientTlsError(f"client TLS: {tls.certificate} is not a PEM certificate") from None
    try:
        private_key = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError):
        raise ClientTlsError(f"client TLS: {tls.key} is not an unencrypted PEM "
                             "private key") from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if private_key.public_key().public_bytes(*spki) != public_key.public_bytes(*spki):
        raise ClientTlsError(f"client TLS: {tls.key} is not the key of {tls.certificate}")
    return grpc.ssl_server_credentials([(key, certificate)])


class ClientServer:
    """The gRPC server of the client service on ``listen``: plaintext, or TLS with ``tls``."""

    def __init__(self, node: Node, listen: HostPort,
                 make_service: Callable[[Node], ClientService] = ClientService,
                 tls: ClientTls | None = None) -> None:
        self.service = make_service(node)
        self._listen = listen
        self._tls = tls
        self._server: grpc.Server | None = None

    def start(self) -> int:
        credentials = None if self._tls is None else server_credentials(self._tls)
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=CLIENT_WORKERS,
                                       thread_name_prefix="client"),
            handlers=[self.service.generic_handler()],
            options=[("grpc.max_receive_message_length", CLIENT_MESSAGE_BYTES_MAX),
                     ("grpc.max_send_message_length", CLIENT_SEND_BYTES_MAX),
                     ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=CLIENT_WORKERS * 2,
        )
        try:
            port = (server.add_insecure_port(str(self._listen)) if credentials is None
                    else server.add_secure_port(str(self._listen), credentials))
        except RuntimeError as error:
            raise OSError(f"client service cannot listen on {self._listen}: {error}") from None
        if port == 0:
            raise OSError(f"client service cannot listen on {self._listen}")
        server.start()
        self._server = server
        return port

    def stop(self, grace_s: float | None = None) -> None:
        if self._server is not None:
            self._server.stop(grace_s).wait()
            self._server = None
