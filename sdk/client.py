"""The synchronous client: talk to zonechain nodes over gRPC, honestly about failure.

    with Client(["node-a:7050", "node-b:7050"], timeout_s=5) as client:
        status = client.status()
        receipt = client.submit_and_wait(key.sign(tx), timeout_s=30)

Guarantees:
- Every failure is a ``ZonechainError`` (sdk/errors.py); a ``grpc.RpcError``
  never reaches the caller.
- Several endpoints: a call goes to the endpoint that last answered; when it
  is unreachable (``ConnectionFailed``) the next one is tried, in order.
- Reads (status, get_*, query, read_state) are idempotent: on a transient
  error (unreachable, deadline exceeded) they are retried on the next
  endpoint, with exponential backoff between rounds (``RetryPolicy``).
  Errors that are not transient (InvalidRequest, NotFound...) are raised at once.
- Submitting is NOT retried after a timeout: the node may have admitted the
  transaction, so ``Timeout`` (carrying ``tx_hash``) is raised and the caller
  decides (``get_transaction`` / ``get_receipt`` tell). It fails over only when
  an endpoint is unreachable, re-sending the SAME signed bytes: a node that
  already holds them answers ``duplicate``, which a re-send counts as
  accepted; the nonce guarantees a transaction executes at most once.
- ``submit_and_wait`` polls ``GetReceipt`` with backoff until the deadline and
  raises the receipt's ``TransactionFailed`` subclass when it failed.
- ``call_contract`` / ``deploy`` sign and submit with nonces from the client's
  per-key ``NonceManager`` (thread-safe; a ``nonce_too_low`` rejection resyncs
  it and retries once with a fresh nonce: the rejected transaction was never
  admitted, so it cannot execute). A ``duplicate`` answer means these very
  signed bytes are already held, so they wait for that receipt. Any other
  rejection gives the nonce back and raises ``MempoolRejected``.

Streams (``stream_blocks`` / ``stream_events``) use the current endpoint and
do not fail over mid-stream: on ``ConnectionFailed`` restart from the last
height seen. ``stream_blocks_with_receipts`` pairs each block with its txs'
receipts sent in the same message (``BlockWithReceipts``; any the node left
out are in ``missing``, for ``get_receipt``): one message per block instead
of one GetReceipt per tx. After a submit ``Timeout`` the nonce stays allocated (the
transaction may be in a mempool); if it never arrived, later transactions
wait behind the gap until ``nonce_manager(key).resync()``.

``simulate(tx)`` dry-runs a signed or unsigned transaction on the node's latest
state (the ``Simulate`` RPC) and returns a ``Simulation``: the receipt it would
get (gas, return data, events, status) or why it is invalid. Nothing is
committed and nothing enters a mempool, so it is idempotent and retried like a
read; it allocates no nonce.

Signed reads: ``Client(..., key=reader)`` (or ``query(..., key=)`` /
``read_state(..., reader=)``) signs each ``Query`` with the reader's key
(node/query_auth.py: chain id, client time, every request field). A zone whose
read policy is not open refuses unsigned reads and non-members with
``Unauthorized`` naming the rule; open zones need no key.

Governance: ``propose(key, action)`` / ``approve(key, id)`` send the
transactions of sdk/governance.py with managed nonces and return a
``GovernanceResult`` (proposal id, whether it executed); ``proposal(id)`` /
``proposals()`` read the proposal records as raw state keys (``Query``).

A Client is safe to share between threads (gRPC channels are thread-safe;
the endpoint cursor and nonce managers are lock-protected).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

import grpc

from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.query_auth import sign_query
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction, Transaction
from zonechain.proto import services_pb2, services_pb2_grpc
from zonechain.sdk import responses
from zonechain.sdk.errors import (
    ConnectionFailed,
    InvalidRequest,
    MempoolRejected,
    NodeError,
    QueryFailed,
    Timeout,
    TransportError,
    VerificationFailed,
    ZonechainError,
    receipt_error,
    translate_rpc_error,
)
from zonechain.sdk.governance import (
    NEXT_PROPOSAL_ID_KEY,
    PROPOSAL_LIFETIME_DEFAULT,
    Action,
    GovernanceResult,
    ProposalView,
    build_approval,
    build_proposal,
    decode_next_id,
    decode_proposal,
    proposal_key,
)
from zonechain.sdk.keys import Key
from zonechain.sdk.responses import (
    BlockInfo,
    EventRecord,
    QueryResult,
    Simulation,
    StateValue,
    Status,
    SubmitResult,
    TransactionInfo,
)
from zonechain.sdk.transactions import (
    DEFAULT_GAS_LIMIT,
    NonceManager,
    build_call,
    build_deploy,
    to_address,
)
from zonechain.sdk.trust import ChainSource
from zonechain.sdk.verify import Verifier

if TYPE_CHECKING:
    from zonechain.contracts.abi import ContractAbi
    from zonechain.sdk.contract import Contract

T = TypeVar("T")

DEFAULT_TIMEOUT_S: Final = 10.0
"""Per-call deadline when none is given: generous for one round trip (~1 ms on a LAN)
yet short enough that a hung node is noticed."""
DEFAULT_WAIT_TIMEOUT_S: Final = 60.0
"""How long ``submit_and_wait`` waits for a receipt: many block intervals."""
RECEIPT_POLL_INITIAL_S: Final = 0.02
RECEIPT_POLL_MAX_S: Final = 0.5
"""Receipt polling starts fast (a block may already be due) and backs off to
twice a second so that waiting clients do not load the node."""
VIEW_CALL_GAS_LIMIT: Final = DEFAULT_GAS_LIMIT
DUPLICATE: Final = "duplicate"
NONCE_RESYNC_CODES: Final = frozenset({"nonce_too_low"})
"""Rejections meaning the local nonce counter is behind the chain."""
SUBMIT_BATCH_TXS_MAX: Final = 10_000
"""Txs per SubmitTransactionBatch message: the node's limit (node/service.py)."""
SUBMIT_BATCH_BYTES_MAX: Final = 1024 * 1024
"""Bytes of txs per SubmitTransactionBatch message: under the node's request limit
(one maximal tx, ~1.13 MiB, plus 64 KiB), so a batch of small txs always fits."""
BATCH_ENTRY_FRAMING_BYTES: Final = 6
"""Protobuf framing of one tx inside the batch: a tag byte and a length varint."""


@dataclass(frozen=True, slots=True)
class BlockWithReceipts:
    """A streamed block and the receipts the node sent with it (``with_receipts``).

    ``receipts`` are those of ``info.block.txs[:len(receipts)]``, in tx order: all
    of them, unless they would not fit in one message or the node does not send
    receipts; ``missing`` names the txs whose receipt must be asked with GetReceipt.
    """

    info: BlockInfo
    receipts: tuple[Receipt, ...]

    @property
    def complete(self) -> bool:
        return len(self.receipts) == len(self.info.block.txs)

    @property
    def missing(self) -> list[bytes]:
        """Hashes of the block's txs that came without a receipt, in block order."""
        return [signed.hash for signed in self.info.block.txs[len(self.receipts):]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How idempotent reads are retried: ``attempts`` rounds over all endpoints.

    Between rounds the client sleeps ``backoff_initial_s``, multiplied by
    ``multiplier`` after each round, at most ``backoff_max_s``.
    """

    attempts: int = 3
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 2.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.backoff_initial_s < 0 or self.backoff_max_s < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be >= 0 and the multiplier >= 1")

    def delay_s(self, round_index: int) -> float:
        """The pause after round ``round_index`` (0-based)."""
        return float(min(self.backoff_max_s,
                         self.backoff_initial_s * self.multiplier ** round_index))


def channel_credentials(tls_root_cert: bytes | str | Path | None) -> grpc.ChannelCredentials | None:
    """TLS credentials trusting ``tls_root_cert`` (PEM bytes or a path); None for plaintext."""
    if tls_root_cert is None:
        return None
    pem = tls_root_cert if isinstance(tls_root_cert, bytes) else Path(tls_root_cert).read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=pem)


def check_endpoints(endpoints: str | Sequence[str]) -> tuple[str, ...]:
    listed = (endpoints,) if isinstance(endpoints, str) else tuple(endpoints)
    if not listed or not all(isinstance(item, str) and item for item in listed):
        raise ValueError("give at least one endpoint, as 'host:port' text")
    return listed


class Client:
    """A synchronous client of one chain, through one or more node endpoints."""

    def __init__(
        self, endpoints: str | Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None, tls_root_cert: bytes | str | Path | None = None,
        verifier: Verifier | None = None, chain_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep, key: Key | None = None,
    ) -> None:
        self.endpoints = check_endpoints(endpoints)
        self.key = key
        """The reader key that signs queries (``query``/``read_state``) by default."""
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.verifier = verifier
        self._chain_id = chain_id
        self._sleep = sleep
        credentials = channel_credentials(tls_root_cert)
        self._channels = [
            grpc.secure_channel(target, credentials) if credentials else
            grpc.insecure_channel(target)
            for target in self.endpoints
        ]
        self._stubs = [
            services_pb2_grpc.ClientStub(channel)  # type: ignore[no-untyped-call]
            for channel in self._channels
        ]
        self._current = 0
        self._lock = threading.Lock()
        self._nonces: dict[bytes, NonceManager] = {}

    # --- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Close every channel; the client cannot be used afterwards."""
        for channel in self._channels:
            channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- the one place RPCs are made ------------------------------------------------

    def _invoke(self, method: str, request: Any, *, idempotent: bool,
                timeout_s: float | None) -> Any:
        """Call ``method``; fail over and retry per the module docstring."""
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        rounds = self.retry.attempts if idempotent else 1
        last: ZonechainError | None = None
        for round_index in range(rounds):
            if round_index:
                self._sleep(self.retry.delay_s(round_index - 1))
            for index in self._endpoint_order():
                try:
                    response = getattr(self._stubs[index], method)(request, timeout=deadline_s)
                except grpc.RpcError as error:
                    last = translate_rpc_error(error, self.endpoints[index], method)
                    if not _try_next(last, idempotent):
                        raise last from None
                    continue
                self._remember(index)
                return response
        assert last is not None
        raise last

    def _endpoint_order(self) -> list[int]:
        with self._lock:
            start = self._current
        count = len(self.endpoints)
        return [(start + offset) % count for offset in range(count)]

    def _remember(self, index: int) -> None:
        with self._lock:
            self._current = index

    # --- reads ---------------------------------------------------------------------

    def status(self, *, timeout_s: float | None = None) -> Status:
        """The node's height, state root, chain id and validator set (``Status``)."""
        response = self._invoke("Status", services_pb2.StatusRequest(), idempotent=True,
                                timeout_s=timeout_s)
        status = responses.status_from_proto(response)
        if self._chain_id is None:
            self._chain_id = status.chain_id
        return status

    @property
    def chain_id(self) -> str:
        """The chain id (given to the constructor, or asked of the node once)."""
        if self._chain_id is None:
            self._chain_id = self.status().chain_id
        return self._chain_id

    def get_receipt(self, tx_hash: bytes, *, timeout_s: float | None = None) -> Receipt | None:
        """The receipt of a committed transaction, or None (unknown or still pending)."""
        request = services_pb2.GetReceiptRequest(tx_hash=tx_hash)
        response = self._invoke("GetReceipt", request, idempotent=True, timeout_s=timeout_s)
        return responses.receipt_from_proto(response, tx_hash)

    def get_transaction(self, tx_hash: bytes, *,
                        timeout_s: float | None = None) -> TransactionInfo | None:
        """Where a transaction is (pending, or its block), or None if the node never saw it."""
        request = services_pb2.GetTransactionRequest(tx_hash=tx_hash)
        response = self._invoke("GetTransaction", request, idempotent=True, timeout_s=timeout_s)
        return responses.transaction_from_proto(response, tx_hash)

    def get_block(self, height: int | None = None, *,
                  timeout_s: float | None = None) -> BlockInfo | None:
        """The committed block at ``height`` (None: the latest), or None if there is none yet."""
        request = services_pb2.GetBlockRequest(height=height or 0)
        response = self._invoke("GetBlock", request, idempotent=True, timeout_s=timeout_s)
        return responses.block_from_proto(response, height or 0)

    def query(self, contract: bytes | str, method: str, args: bytes = b"", *,
              height: int | None = None, gas_limit: int = VIEW_CALL_GAS_LIMIT,
              timeout_s: float | None = None, key: Key | None = None) -> QueryResult:
        """Run read-only ``method`` against the state after ``height`` (None: latest).

        Any committed height from 1 may be asked for (0, like None, means the
        latest): nodes keep every height's values, and the call sees that
        block's height and time (``block_height``, ``block_time_ms``). A height
        above the node's latest is ``InvalidRequest`` (OUT_OF_RANGE). The
        result's ``height`` is the height answered for.
        View calls cannot be proven (the proof covers state keys); for a verified
        read use ``read_state(..., verify=True)``. A failed call raises QueryFailed.
        ``key`` (default: the client's) signs the query, as a zone whose read
        policy is not open requires; a refusal is ``Unauthorized``.
        """
        request = self._signed_query(responses.view_call_request(
            to_address(contract, "contract"), method, args, height, gas_limit), key)
        response = self._invoke("Query", request, idempotent=True, timeout_s=timeout_s)
        return _query_result(response)

    def read_state(self, key: bytes, *, height: int | None = None, prove: bool = False,
                   verify: bool = False, timeout_s: float | None = None,
                   reader: Key | None = None) -> StateValue:
        """The raw value of a state key; ``verify=True`` checks it with ``self.verifier``.

        ``height`` (None or 0: the newest) may be any committed height from 1 up
        to the node's latest, or up to latest - 1 with ``prove``/``verify`` (the
        proof of height H is checked against header H + 1, which commits H's
        state root); above that, ``InvalidRequest`` (OUT_OF_RANGE). A verified
        read must be for the height asked (``VerificationFailed`` otherwise).
        ``reader`` (default: the client's ``key``) signs the query (see ``query``).
        """
        _check_verify(self.verifier, verify)
        request = self._signed_query(responses.state_key_request(key, height, prove or verify),
                                     reader)
        response = self._invoke("Query", request, idempotent=True, timeout_s=timeout_s)
        value = _state_value(response, key, self.verifier if verify else None, source=self)
        if verify:
            _check_answered_height(value, height)
        return value

    def _signed_query(self, request: services_pb2.QueryRequest,
                      key: Key | None) -> services_pb2.QueryRequest:
        """``request`` signed by ``key`` or the client's key (node/query_auth.py); as is if none."""
        signer = key or self.key
        if signer is None:
            return request
        return sign_query(request, signer.private_key, self.chain_id, time.time_ns() // 1_000_000)

    def account_nonce(self, address: bytes | str, *, timeout_s: float | None = None) -> int:
        """The nonce the account's next transaction must carry (committed state)."""
        value = self.read_state(account_key(to_address(address)), timeout_s=timeout_s)
        return _account_nonce(value)

    def stream_blocks(self, from_height: int = 1, *,
                      timeout_s: float | None = None) -> Iterator[BlockInfo]:
        """Committed blocks from ``from_height`` on, as they are committed."""
        request = services_pb2.StreamBlocksRequest(from_height=from_height)
        for message in self._stream("StreamBlocks", request, timeout_s):
            yield responses.block_with_commit_from_proto(message)

    def stream_blocks_with_receipts(self, from_height: int = 1, *,
                                    timeout_s: float | None = None,
                                    ) -> Iterator[BlockWithReceipts]:
        """Committed blocks from ``from_height`` on, each with its txs' receipts (see
        ``BlockWithReceipts``: a node that sends none, or too many to fit, leaves
        ``missing`` ones for ``get_receipt``)."""
        request = services_pb2.StreamBlocksRequest(from_height=from_height, with_receipts=True)
        for message in self._stream("StreamBlocks", request, timeout_s):
            yield block_with_receipts_from_proto(message)

    def stream_events(self, from_height: int = 1, *, contract: bytes | str | None = None,
                      topic: bytes = b"", timeout_s: float | None = None) -> Iterator[EventRecord]:
        """Events from ``from_height`` on, optionally of one contract and/or one topic."""
        request = services_pb2.StreamEventsRequest(
            from_height=from_height, topic=topic,
            contract=b"" if contract is None else to_address(contract, "contract"))
        for message in self._stream("StreamEvents", request, timeout_s):
            yield responses.event_from_proto(message)

    def simulate(self, tx: SignedTransaction | Transaction, *,
                 timeout_s: float | None = None) -> Simulation:
        """Dry-run ``tx`` (signed, or unsigned: every rule but the signature) on the latest
        state as the next block's only tx. Nothing is committed or admitted to a mempool."""
        request = responses.simulate_request(tx)
        response = self._invoke("Simulate", request, idempotent=True, timeout_s=timeout_s)
        return responses.simulation_from_proto(response)

    def _stream(self, method: str, request: Any, timeout_s: float | None) -> Iterator[Any]:
        index = self._endpoint_order()[0]
        try:
            yield from getattr(self._stubs[index], method)(request, timeout=timeout_s)
        except grpc.RpcError as error:
            raise translate_rpc_error(error, self.endpoints[index], method) from None

    # --- submitting ------------------------------------------------------------------

    def submit(self, tx: SignedTransaction, *, timeout_s: float | None = None) -> bytes:
        """Send ``tx`` to a mempool; its hash, or MempoolRejected / Timeout (see module doc)."""
        result = self._submit_once(tx, timeout_s)
        error = result.error()
        if error is not None:
            raise error
        return result.tx_hash

    def _submit_once(self, tx: SignedTransaction, timeout_s: float | None) -> SubmitResult:
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        tx_hash, message, resent = tx.hash, tx.to_proto(), False
        last: ZonechainError | None = None
        for index in self._endpoint_order():
            try:
                response = self._stubs[index].SubmitTransaction(message, timeout=deadline_s)
            except grpc.RpcError as error:
                last = _with_tx_hash(translate_rpc_error(
                    error, self.endpoints[index], "SubmitTransaction"), tx_hash)
                if not isinstance(last, ConnectionFailed):
                    raise last from None
                resent = True
                continue
            self._remember(index)
            return _resent_duplicate(responses.submit_result_from_proto(response, tx_hash), resent)
        assert last is not None
        raise last

    def submit_many(self, txs: Iterable[SignedTransaction], *,
                    timeout_s: float | None = None) -> list[SubmitResult]:
        """Send many transactions; one SubmitResult each, in order.

        They go as few SubmitTransactionBatch messages as the node's request size
        allows (``submit_chunks``). Rejections are reported in the results, not
        raised. Failover re-sends a chunk to the next endpoint only when one is
        unreachable; ``timeout_s`` applies to each chunk.
        """
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        results: list[SubmitResult] = []
        for chunk, message in submit_chunks(list(txs)):
            results.extend(self._submit_chunk(chunk, message, deadline_s))
        return results

    def _submit_chunk(self, batch: list[SignedTransaction],
                      message: services_pb2.TransactionBatch,
                      deadline_s: float) -> list[SubmitResult]:
        last: ZonechainError | None = None
        resent = False
        for index in self._endpoint_order():
            try:
                response = self._stubs[index].SubmitTransactionBatch(message, timeout=deadline_s)
            except grpc.RpcError as error:
                last = translate_rpc_error(error, self.endpoints[index],
                                           "SubmitTransactionBatch")
                if not isinstance(last, ConnectionFailed):
                    raise last from None
                resent = True
                continue
            self._remember(index)
            return _batch_results(response, batch, resent)
        assert last is not None
        raise last

    def wait_for_receipt(self, tx_hash: bytes, *,
                         timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> Receipt:
        """Poll until the receipt exists; Timeout (with ``tx_hash``) at the deadline."""
        deadline = time.monotonic() + timeout_s
        pause = RECEIPT_POLL_INITIAL_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"no receipt for {tx_hash.hex()} within {timeout_s} s; it may "
                              "still commit: ask get_receipt later", tx_hash)
            try:
                receipt = self.get_receipt(tx_hash, timeout_s=min(remaining, self.timeout_s))
            except TransportError:
                receipt = None
            if receipt is not None:
                return receipt
            self._sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, RECEIPT_POLL_MAX_S)

    def submit_and_wait(self, tx: SignedTransaction, *,
                        timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
                        check: bool = True) -> Receipt:
        """Submit, wait for the receipt; raise its TransactionFailed when ``check`` and failed."""
        tx_hash = self.submit(tx, timeout_s=min(timeout_s, self.timeout_s))
        receipt = self.wait_for_receipt(tx_hash, timeout_s=timeout_s)
        failure = receipt_error(receipt) if check else None
        if failure is not None:
            raise failure
        return receipt

    # --- signing and sending with managed nonces -------------------------------------

    def nonce_manager(self, key: Key) -> NonceManager:
        """The one NonceManager this client uses for ``key``."""
        with self._lock:
            manager = self._nonces.get(key.address)
            if manager is None:
                address = key.address
                manager = NonceManager(lambda: self.account_nonce(address))
                self._nonces[key.address] = manager
            return manager

    def call_contract(self, key: Key, contract: bytes | str, method: str, args: bytes = b"", *,
                      zone: str, gas_limit: int = DEFAULT_GAS_LIMIT,
                      timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> Receipt:
        """Sign and submit a call with the next nonce; wait; raise on a failed receipt."""
        address = to_address(contract, "contract")
        chain_id = self.chain_id
        return self._transact(key, lambda nonce: build_call(
            chain_id=chain_id, sender=key, nonce=nonce, contract=address, method=method,
            args=args, zone=zone, gas_limit=gas_limit), timeout_s)

    def deploy(self, key: Key, code: bytes, init_args: bytes = b"", *, zone: str,
               gas_limit: int = DEFAULT_GAS_LIMIT,
               timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> Receipt:
        """Deploy Wasm ``code``; the receipt's ``created_contract`` is the new address."""
        chain_id = self.chain_id
        return self._transact(key, lambda nonce: build_deploy(
            chain_id=chain_id, sender=key, nonce=nonce, code=code, init_args=init_args,
            zone=zone, gas_limit=gas_limit), timeout_s)

    # --- governance (sdk/governance.py builds the actions) -------------------------------

    def propose(self, key: Key, action: Action, *, expiry_height: int | None = None,
                lifetime_blocks: int = PROPOSAL_LIFETIME_DEFAULT,
                timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> GovernanceResult:
        """Propose ``action`` (it counts as ``key``'s approval); wait for the receipt.

        ``expiry_height`` defaults to the node's height + ``lifetime_blocks``. A
        refusal (not a member, bad expiry, the action's precondition) raises a
        ``TransactionFailed`` whose ``receipt.error_code`` is the governance code.
        """
        expiry = (self.status().height + lifetime_blocks if expiry_height is None
                  else expiry_height)
        chain_id = self.chain_id
        receipt = self._transact(key, lambda nonce: build_proposal(
            chain_id=chain_id, sender=key, nonce=nonce, action=action,
            expiry_height=expiry), timeout_s)
        return GovernanceResult.from_receipt(receipt)

    def approve(self, key: Key, proposal_id: int, *,
                timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> GovernanceResult:
        """Approve proposal ``proposal_id``; ``executed`` says whether this approval ran it."""
        chain_id = self.chain_id
        receipt = self._transact(key, lambda nonce: build_approval(
            chain_id=chain_id, sender=key, nonce=nonce, proposal_id=proposal_id), timeout_s)
        return GovernanceResult.from_receipt(receipt)

    def proposal(self, proposal_id: int, *, height: int | None = None,
                 timeout_s: float | None = None) -> ProposalView | None:
        """Proposal ``proposal_id`` as stored at ``height`` (None: latest), or None."""
        value = self.read_state(proposal_key(proposal_id), height=height, timeout_s=timeout_s)
        return None if value.value is None else decode_proposal(value.value, value.height)

    def proposals(self, *, height: int | None = None,
                  timeout_s: float | None = None) -> list[ProposalView]:
        """Every proposal ever made, in id order, all read at one height."""
        counter = self.read_state(NEXT_PROPOSAL_ID_KEY, height=height, timeout_s=timeout_s)
        found = []
        for proposal_id in range(1, decode_next_id(counter.value)):
            view = self.proposal(proposal_id, height=counter.height, timeout_s=timeout_s)
            if view is not None:
                found.append(view)
        return found

    def _transact(self, key: Key, make: Callable[[int], Transaction], timeout_s: float) -> Receipt:
        manager = self.nonce_manager(key)
        for attempt in range(2):
            nonce = manager.allocate()
            try:
                signed = key.sign(make(nonce))
            except BaseException:
                manager.release(nonce)  # never signed nor sent: the next tx may take it
                raise
            try:
                self.submit(signed, timeout_s=min(timeout_s, self.timeout_s))
            except MempoolRejected as rejection:
                if rejection.reason_code in NONCE_RESYNC_CODES and attempt == 0:
                    manager.resync()
                    continue
                if rejection.reason_code != DUPLICATE:  # a duplicate is this very tx: wait
                    _forget_nonce(manager, nonce, rejection)
                    raise
            except (ConnectionFailed, InvalidRequest):
                manager.release(nonce)
                raise
            return self._wait_checked(signed.hash, timeout_s)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _wait_checked(self, tx_hash: bytes, timeout_s: float) -> Receipt:
        receipt = self.wait_for_receipt(tx_hash, timeout_s=timeout_s)
        failure = receipt_error(receipt)
        if failure is not None:
            raise failure
        return receipt

    def contract(self, address: bytes | str, abi: ContractAbi | str | Path, *,
                 key: Key | None = None, zone: str | None = None,
                 gas_limit: int = DEFAULT_GAS_LIMIT) -> Contract:
        """A typed proxy of the contract at ``address`` (``abi``: a ContractAbi or its file).

        ``key`` and ``zone`` are needed only for state-changing methods.
        """
        from zonechain.sdk.contract import Contract

        return Contract(self, address, abi, key=key, zone=zone, gas_limit=gas_limit)


# --- helpers shared with the async client ---------------------------------------------


def _try_next(error: ZonechainError, idempotent: bool) -> bool:
    """Whether a failed call may go on to the next endpoint."""
    if isinstance(error, ConnectionFailed):
        return True
    return idempotent and isinstance(error, TransportError)


def _with_tx_hash(error: ZonechainError, tx_hash: bytes) -> ZonechainError:
    if isinstance(error, Timeout):
        return Timeout(f"{error}; the transaction {tx_hash.hex()} may have been admitted: "
                       "check get_transaction before re-sending", tx_hash)
    return error


def _resent_duplicate(result: SubmitResult, resent: bool) -> SubmitResult:
    """A re-send that finds its own earlier copy held counts as accepted."""
    if resent and not result.accepted and result.error_code == DUPLICATE:
        return SubmitResult(result.tx_hash, True)
    return result


def submit_chunks(txs: list[SignedTransaction],
                  ) -> list[tuple[list[SignedTransaction], services_pb2.TransactionBatch]]:
    """``txs`` in order, cut into SubmitTransactionBatch messages (each with its txs) of
    at most ``SUBMIT_BATCH_TXS_MAX`` txs and ``SUBMIT_BATCH_BYTES_MAX`` bytes (a tx
    larger than that goes alone: the node takes any one valid tx)."""
    chunks: list[tuple[list[SignedTransaction], services_pb2.TransactionBatch]] = []
    chunk: list[SignedTransaction] = []
    message = services_pb2.TransactionBatch()
    size = 0
    for tx in txs:
        wire = tx.to_proto()
        tx_size = wire.ByteSize() + BATCH_ENTRY_FRAMING_BYTES
        if chunk and (len(chunk) == SUBMIT_BATCH_TXS_MAX
                      or size + tx_size > SUBMIT_BATCH_BYTES_MAX):
            chunks.append((chunk, message))
            chunk, message, size = [], services_pb2.TransactionBatch(), 0
        chunk.append(tx)
        message.txs.append(wire)
        size += tx_size
    if chunk:
        chunks.append((chunk, message))
    return chunks


def _batch_results(response: services_pb2.SubmitBatchResult, batch: list[SignedTransaction],
                   resent: bool) -> list[SubmitResult]:
    if len(response.results) != len(batch):
        raise NodeError(f"SubmitTransactionBatch: {len(batch)} sent, "
                        f"{len(response.results)} results")
    return [
        _resent_duplicate(responses.submit_result_from_proto(message, tx.hash), resent)
        for message, tx in zip(response.results, batch, strict=True)
    ]


def _forget_nonce(manager: NonceManager, nonce: int, rejection: MempoolRejected) -> None:
    """After a rejection the nonce was not used: resync if we are behind, else give it back."""
    if rejection.reason_code in NONCE_RESYNC_CODES:
        manager.resync()
    else:
        manager.release(nonce)


def _query_result(response: services_pb2.QueryResponse) -> QueryResult:
    if response.error_code:
        raise QueryFailed(response.error_code, response.error_message)
    return QueryResult(response.height, response.return_data)


def _check_verify(verifier: Verifier | None, verify: bool) -> None:
    if verify and verifier is None:
        raise ValueError("verify=True needs a client built with verifier=Verifier(...)")


def _check_answered_height(value: StateValue, height: int | None) -> None:
    """A verified read proves the height the node answered for: it must be the one asked."""
    if height is not None and value.height != height:
        raise VerificationFailed(
            f"asked for the value at height {height}, the node proved height {value.height}")


def _state_value(response: services_pb2.QueryResponse, key: bytes,
                 verifier: Verifier | None, source: ChainSource | None = None) -> StateValue:
    """The answer as a StateValue; verified (following set changes through ``source``)."""
    if response.error_code:
        raise QueryFailed(response.error_code, response.error_message)
    value = responses.state_value_from_proto(response, key)
    return verifier.verify_state(value, source) if verifier is not None else value


def _account_nonce(value: StateValue) -> int:
    if value.value is None:
        return AccountRecord().nonce
    return responses.convert("Query", lambda: AccountRecord.decode(value.value or b"")).nonce


def block_with_receipts_from_proto(message: services_pb2.BlockWithCommit) -> BlockWithReceipts:
    """A streamed block with its receipts; NodeError when a receipt is not that of
    the tx at its position, or there are more receipts than txs."""
    info = responses.block_with_commit_from_proto(message)
    txs = info.block.txs
    if len(message.receipts) > len(txs):
        raise NodeError(f"StreamBlocks: {len(message.receipts)} receipts for "
                        f"{len(txs)} txs at height {info.block.height}")
    receipts = tuple(responses.convert("StreamBlocks", partial(Receipt.from_proto, item))
                     for item in message.receipts)
    for index, receipt in enumerate(receipts):
        if receipt.tx_hash != txs[index].hash:
            raise NodeError(f"StreamBlocks: receipt {index} at height {info.block.height} is "
                            f"not that of its tx ({receipt.tx_hash.hex()})")
    return BlockWithReceipts(info, receipts)
