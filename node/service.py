"""The client gRPC service (proto/services.proto ``Client``) of a node.

What each call answers (tests/sdk/fake_node.py is the model the SDK is tested against):

    SubmitTransaction(s)  mempool admission: accepted, or the mempool's reason code
                          (node/mempool.py) with its message; admitted txs are gossiped
    GetTransaction        pending (in the mempool) or the (height, index) of its block
    GetReceipt            the stored receipt with its (height, index)
    GetBlock              block + the certificate that committed it; height 0 = latest
    Status                chain id, height, last block hash, state root after it,
                          this node's validator address, catching_up, mempool size
    Query                 view call: read-only method at the latest height (a failed
                          call: error_code/error_message in the answer);
                          state key: its value at the latest height, or with ``prove``
                          at the newest PROVABLE height H = latest - 1, with the
                          Merkle proof, header H + 1 (whose last_state_root commits
                          H's state) and that header's certificate
    StreamBlocks/Events   from a height on, then live as blocks commit; resumable by
                          asking again from the last height seen

Doors: every request is parsed from raw bytes here (identity deserializers),
so bytes that are not valid protobuf, a wrong-sized hash or address, or a
transaction that breaks its type's rules end the call with INVALID_ARGUMENT
naming the field; a request over ``CLIENT_MESSAGE_BYTES_MAX`` is refused by
grpc with RESOURCE_EXHAUSTED, as is a batch over ``SUBMIT_BATCH_TXS_MAX`` or a
stream beyond ``STREAMS_MAX``; a height this node cannot serve is
OUT_OF_RANGE. None of these affects other calls: the node keeps serving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import TYPE_CHECKING, Final, TypeVar

import grpc
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from zonechain.node.config import HostPort
from zonechain.node.ledger import QUERY_GAS_MAX
from zonechain.node.mempool import MempoolRejection
from zonechain.node.state.proof import hash_value
from zonechain.node.types.block import Block
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.hashing import ZERO_HASH
from zonechain.node.types.limits import BLOCK_BYTES_MAX, TX_BYTES_MAX
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

SUBMIT_BATCH_TXS_MAX: Final = 10_000
"""Transactions in one SubmitTransactions stream: one protocol block's worth."""

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
            "GetTransaction": unary(self.get_transaction),
            "GetReceipt": unary(self.get_receipt),
            "GetBlock": unary(self.get_block),
            "Status": unary(self.status),
            "Query": unary(self.query),
            "StreamBlocks": stream_out(self.stream_blocks),
            "StreamEvents": stream_out(self.stream_events),
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
        wire = self._parse(types_pb2.SignedTransaction, data, context)
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
        kind = request.WhichOneof("query")
        if kind == "view_call":
            return self._view_call(request, context).SerializeToString()
        if kind == "state_key":
            return self._state_query(request, context).SerializeToString()
        self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                     "query: set either state_key or view_call")
        raise AssertionError("abort returned")

    def _view_call(self, request: services_pb2.QueryRequest,
                   context: grpc.ServicerContext) -> services_pb2.QueryResponse:
        call = request.view_call
        if len(call.contract) != ADDRESS_BYTES:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"view_call.contract: must be {ADDRESS_BYTES} bytes")
        ledger = self.node.ledger
        latest = ledger.height
        if request.height not in (0, latest):
            self._refuse(context, grpc.StatusCode.OUT_OF_RANGE,
                         f"height {request.height}: view calls run at the latest height "
                         f"({latest}) only")
        gas_limit = min(call.gas_limit or QUERY_GAS_MAX, QUERY_GAS_MAX)

        def run() -> Outcome:
            return ledger.query(call.contract, call.method, call.args, gas_limit=gas_limit)

        try:
            outcome = self.node.run_query(run).result(QUERY_TIMEOUT_S)
        except futures.TimeoutError:
            self._refuse(context, grpc.StatusCode.DEADLINE_EXCEEDED, "the query timed out")
            raise
        except ValueError as problem:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, f"view_call: {problem}")
            raise
        except RuntimeError as problem:  # the node is stopping
            self._refuse(context, grpc.StatusCode.UNAVAILABLE, str(problem))
            raise
        if outcome.ok:
            return services_pb2.QueryResponse(height=ledger.height,
                                              return_data=outcome.return_data)
        failure = outcome.error
        return services_pb2.QueryResponse(
            height=ledger.height,
            error_code=failure.code if failure is not None else "contract_error",
            error_message=failure.message if failure is not None else "the call failed")

    def _state_query(self, request: services_pb2.QueryRequest,
                     context: grpc.ServicerContext) -> services_pb2.QueryResponse:
        key = request.state_key.key
        if not 1 <= len(key) <= STATE_KEY_BYTES_MAX:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"state_key.key: must be 1..{STATE_KEY_BYTES_MAX} bytes")
        node = self.node
        with node.ledger._lock:  # one consistent commit: store, tree, undo record
            latest = node.ledger.height
            newest = latest - 1 if request.prove else latest
            height = request.height or newest
            if newest < 0 or height > newest or height < max(latest - 1, 0):
                self._refuse(context, grpc.StatusCode.OUT_OF_RANGE, _range_message(
                    height, newest, latest, request.prove))
            value = self._value_at(key, height, latest, context)
            response = services_pb2.QueryResponse(height=height)
            if value is not None:
                response.value = value
            if request.prove:
                self._add_proof(response, key, value, height, latest, context)
            return response

    def _value_at(self, key: bytes, height: int, latest: int,
                  context: grpc.ServicerContext) -> bytes | None:
        store = self.node.store
        if height == latest:
            return store.get(key)
        undo_height, undo = self.node.undo_record()
        if undo_height == latest:
            return undo[key] if key in undo else store.get(key)
        # Restarted since block ``latest`` committed: no undo record. The current
        # value is the answer when the proof at ``height`` says it is unchanged.
        proof = self.node.ledger.tree.get_proof(key, height)
        current = store.get(key)
        if proof.leaf is None and current is None:
            return None
        if proof.leaf is not None and current is not None and \
                proof.leaf.value_hash == hash_value(current):
            return current
        self._refuse(context, grpc.StatusCode.UNAVAILABLE,
                     f"height {height} is not readable until the next block commits; retry")
        raise AssertionError("abort returned")

    def _add_proof(self, response: services_pb2.QueryResponse, key: bytes,
                   value: bytes | None, height: int, latest: int,
                   context: grpc.ServicerContext) -> None:
        proof = self.node.ledger.tree.get_proof(key, height)
        pair = self.node.block_at(latest)
        if pair is None:
            self._refuse(context, grpc.StatusCode.UNAVAILABLE,
                         f"block {latest} and its certificate are not stored")
            raise AssertionError("abort returned")
        block, commit = pair
        response.proof = proof.encode()
        response.header.CopyFrom(block.header.to_proto())
        response.commit.CopyFrom(commit.to_proto())

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
            for _, encoded in self._blocks_from(request.from_height, context):
                yield encoded
        finally:
            self._close_stream()

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


def _range_message(height: int, newest: int, latest: int, prove: bool) -> str:
    if newest < 0:
        return "no height is provable yet (the first block has not committed)"
    what = "provable" if prove else "readable"
    return (f"height {height}: this node serves heights {max(latest - 1, 0)}..{newest} "
            f"({what}; latest committed {latest})")


class ClientServer:
    """The gRPC server of the client service on ``listen`` (plaintext, loopback by default)."""

    def __init__(self, node: Node, listen: HostPort,
                 make_service: Callable[[Node], ClientService] = ClientService) -> None:
        self.service = make_service(node)
        self._listen = listen
        self._server: grpc.Server | None = None

    def start(self) -> int:
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
            port = server.add_insecure_port(str(self._listen))
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
