"""The asyncio client: the same methods, results and errors as ``Client``, as coroutines.

    async with AsyncClient(["node-a:7050", "node-b:7050"]) as client:
        receipt = await client.submit_and_wait(key.sign(tx))

Everything the sync client guarantees (sdk/client.py) holds here too: no
``grpc.RpcError`` reaches the caller, failover across endpoints, retries with
backoff only for idempotent reads on transient errors, no blind re-submission
after a timeout, receipts waited for by polling ``GetReceipt`` with backoff,
managed nonces per key. Both clients share the request builders and response
conversions (sdk/responses.py) and the retry and failover rules
(``RetryPolicy``, ``_try_next``), so they return identical values.

Channels are created on first use, inside the running event loop (grpc.aio
binds a channel to the loop that first uses it): use one AsyncClient per
event loop.

The public methods are ``Client``'s, with the same parameters, as coroutines
(streams as async iterators); tests/sdk/test_async_parity.py fails when the
two drift. The exceptions, each by necessity: ``nonce_manager`` and
``contract`` stay plain methods (they do no I/O), and ``chain_id`` is a
coroutine (``await client.chain_id()``) where ``Client.chain_id`` is a
property, because the first call may have to ask a node and a property cannot
be awaited.

Governance (``propose`` / ``approve`` / ``proposal`` / ``proposals``) is
``Client``'s (sdk/governance.py). ``read_state(..., verify=True)`` follows
validator-set changes like ``Client``'s: the trust-chain walk and the
signature checks run in a worker thread whose block and receipt fetches are
coroutines on this loop (``Verifier.verify_state_async``), so the loop is
never blocked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from zonechain.node.accounts import account_key
from zonechain.node.query_auth import sign_query
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction, Transaction
from zonechain.proto import services_pb2, services_pb2_grpc
from zonechain.sdk import responses
from zonechain.sdk.client import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_WAIT_TIMEOUT_S,
    DUPLICATE,
    NONCE_RESYNC_CODES,
    RECEIPT_POLL_INITIAL_S,
    RECEIPT_POLL_MAX_S,
    VIEW_CALL_GAS_LIMIT,
    BlockWithReceipts,
    RetryPolicy,
    _account_nonce,
    _batch_results,
    _check_answered_height,
    _check_verify,
    _forget_nonce,
    _query_result,
    _resent_duplicate,
    _state_value,
    _try_next,
    _with_tx_hash,
    block_with_receipts_from_proto,
    channel_credentials,
    check_endpoints,
    submit_chunks,
)
from zonechain.sdk.errors import (
    ConnectionFailed,
    InvalidRequest,
    MempoolRejected,
    Timeout,
    TransportError,
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
from zonechain.sdk.verify import Verifier

if TYPE_CHECKING:
    from zonechain.contracts.abi import ContractAbi
    from zonechain.sdk.contract import AsyncContract


class AsyncClient:
    """An asyncio client of one chain, through one or more node endpoints."""

    def __init__(
        self, endpoints: str | Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None, tls_root_cert: bytes | str | Path | None = None,
        verifier: Verifier | None = None, chain_id: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, key: Key | None = None,
    ) -> None:
        self.endpoints = check_endpoints(endpoints)
        self.key = key
        """The reader key that signs queries by default (``Client.key``)."""
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.verifier = verifier
        self._chain_id = chain_id
        self._sleep = sleep
        self._credentials = channel_credentials(tls_root_cert)
        self._channels: list[grpc.aio.Channel | None] = [None] * len(self.endpoints)
        self._stubs: list[Any] = [None] * len(self.endpoints)
        self._current = 0
        self._nonces: dict[bytes, NonceManager] = {}

    # --- lifecycle -----------------------------------------------------------------

    async def close(self) -> None:
        for channel in self._channels:
            if channel is not None:
                await channel.close(None)
        self._channels = [None] * len(self.endpoints)
        self._stubs = [None] * len(self.endpoints)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    def _stub(self, index: int) -> Any:
        if self._stubs[index] is None:
            target = self.endpoints[index]
            channel = (grpc.aio.secure_channel(target, self._credentials) if self._credentials
                       else grpc.aio.insecure_channel(target))
            self._channels[index] = channel
            self._stubs[index] = services_pb2_grpc.ClientStub(channel)  # type: ignore[no-untyped-call]
        return self._stubs[index]

    def _endpoint_order(self) -> list[int]:
        count = len(self.endpoints)
        return [(self._current + offset) % count for offset in range(count)]

    # --- the one place RPCs are made ------------------------------------------------

    async def _invoke(self, method: str, request: Any, *, idempotent: bool,
                      timeout_s: float | None) -> Any:
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        rounds = self.retry.attempts if idempotent else 1
        last: ZonechainError | None = None
        for round_index in range(rounds):
            if round_index:
                await self._sleep(self.retry.delay_s(round_index - 1))
            for index in self._endpoint_order():
                try:
                    response = await getattr(self._stub(index), method)(
                        request, timeout=deadline_s)
                except grpc.RpcError as error:
                    last = translate_rpc_error(error, self.endpoints[index], method)
                    if not _try_next(last, idempotent):
                        raise last from None
                    continue
                self._current = index
                return response
        assert last is not None
        raise last

    # --- reads ---------------------------------------------------------------------

    async def status(self, *, timeout_s: float | None = None) -> Status:
        response = await self._invoke("Status", services_pb2.StatusRequest(), idempotent=True,
                                      timeout_s=timeout_s)
        status = responses.status_from_proto(response)
        if self._chain_id is None:
            self._chain_id = status.chain_id
        return status

    async def chain_id(self) -> str:
        """The chain id (given to the constructor, or asked of the node once)."""
        if self._chain_id is None:
            self._chain_id = (await self.status()).chain_id
        return self._chain_id

    async def get_receipt(self, tx_hash: bytes, *,
                          timeout_s: float | None = None) -> Receipt | None:
        request = services_pb2.GetReceiptRequest(tx_hash=tx_hash)
        response = await self._invoke("GetReceipt", request, idempotent=True,
                                      timeout_s=timeout_s)
        return responses.receipt_from_proto(response, tx_hash)

    async def get_transaction(self, tx_hash: bytes, *,
                              timeout_s: float | None = None) -> TransactionInfo | None:
        request = services_pb2.GetTransactionRequest(tx_hash=tx_hash)
        response = await self._invoke("GetTransaction", request, idempotent=True,
                                      timeout_s=timeout_s)
        return responses.transaction_from_proto(response, tx_hash)

    async def get_block(self, height: int | None = None, *,
                        timeout_s: float | None = None) -> BlockInfo | None:
        request = services_pb2.GetBlockRequest(height=height or 0)
        response = await self._invoke("GetBlock", request, idempotent=True, timeout_s=timeout_s)
        return responses.block_from_proto(response, height or 0)

    async def query(self, contract: bytes | str, method: str, args: bytes = b"", *,
                    height: int | None = None, gas_limit: int = VIEW_CALL_GAS_LIMIT,
                    timeout_s: float | None = None, key: Key | None = None) -> QueryResult:
        request = await self._signed_query(responses.view_call_request(
            to_address(contract, "contract"), method, args, height, gas_limit), key)
        response = await self._invoke("Query", request, idempotent=True, timeout_s=timeout_s)
        return _query_result(response)

    async def simulate(self, tx: SignedTransaction | Transaction, *,
                       timeout_s: float | None = None) -> Simulation:
        """``Client.simulate``: a dry run on the latest state; nothing is committed."""
        request = responses.simulate_request(tx)
        response = await self._invoke("Simulate", request, idempotent=True,
                                      timeout_s=timeout_s)
        return responses.simulation_from_proto(response)

    async def read_state(self, key: bytes, *, height: int | None = None, prove: bool = False,
                         verify: bool = False, timeout_s: float | None = None,
                         reader: Key | None = None) -> StateValue:
        _check_verify(self.verifier, verify)
        request = await self._signed_query(
            responses.state_key_request(key, height, prove or verify), reader)
        response = await self._invoke("Query", request, idempotent=True, timeout_s=timeout_s)
        value = _state_value(response, key, None)
        if verify:
            assert self.verifier is not None  # _check_verify
            value = await self.verifier.verify_state_async(value, self)
            _check_answered_height(value, height)
        return value

    async def _signed_query(self, request: services_pb2.QueryRequest,
                            key: Key | None) -> services_pb2.QueryRequest:
        """``Client._signed_query``: signed by ``key`` or the client's key, if any."""
        signer = key or self.key
        if signer is None:
            return request
        return sign_query(request, signer.private_key, await self.chain_id(),
                          time.time_ns() // 1_000_000)

    async def account_nonce(self, address: bytes | str, *,
                            timeout_s: float | None = None) -> int:
        value = await self.read_state(account_key(to_address(address)), timeout_s=timeout_s)
        return _account_nonce(value)

    async def stream_blocks(self, from_height: int = 1, *,
                            timeout_s: float | None = None) -> AsyncIterator[BlockInfo]:
        request = services_pb2.StreamBlocksRequest(from_height=from_height)
        async for message in self._stream("StreamBlocks", request, timeout_s):
            yield responses.block_with_commit_from_proto(message)

    async def stream_blocks_with_receipts(
        self, from_height: int = 1, *, timeout_s: float | None = None,
    ) -> AsyncIterator[BlockWithReceipts]:
        request = services_pb2.StreamBlocksRequest(from_height=from_height, with_receipts=True)
        async for message in self._stream("StreamBlocks", request, timeout_s):
            yield block_with_receipts_from_proto(message)

    async def stream_events(self, from_height: int = 1, *, contract: bytes | str | None = None,
                            topic: bytes = b"",
                            timeout_s: float | None = None) -> AsyncIterator[EventRecord]:
        request = services_pb2.StreamEventsRequest(
            from_height=from_height, topic=topic,
            contract=b"" if contract is None else to_address(contract, "contract"))
        async for message in self._stream("StreamEvents", request, timeout_s):
            yield responses.event_from_proto(message)

    async def _stream(self, method: str, request: Any,
                      timeout_s: float | None) -> AsyncIterator[Any]:
        index = self._endpoint_order()[0]
        try:
            async for message in getattr(self._stub(index), method)(request, timeout=timeout_s):
                yield message
        except grpc.RpcError as error:
            raise translate_rpc_error(error, self.endpoints[index], method) from None

    # --- submitting ------------------------------------------------------------------

    async def submit(self, tx: SignedTransaction, *, timeout_s: float | None = None) -> bytes:
        result = await self._submit_once(tx, timeout_s)
        error = result.error()
        if error is not None:
            raise error
        return result.tx_hash

    async def _submit_once(self, tx: SignedTransaction,
                           timeout_s: float | None) -> SubmitResult:
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        tx_hash, message, resent = tx.hash, tx.to_proto(), False
        last: ZonechainError | None = None
        for index in self._endpoint_order():
            try:
                response = await self._stub(index).SubmitTransaction(message, timeout=deadline_s)
            except grpc.RpcError as error:
                last = _with_tx_hash(translate_rpc_error(
                    error, self.endpoints[index], "SubmitTransaction"), tx_hash)
                if not isinstance(last, ConnectionFailed):
                    raise last from None
                resent = True
                continue
            self._current = index
            return _resent_duplicate(responses.submit_result_from_proto(response, tx_hash), resent)
        assert last is not None
        raise last

    async def submit_many(self, txs: Iterable[SignedTransaction], *,
                          timeout_s: float | None = None) -> list[SubmitResult]:
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        results: list[SubmitResult] = []
        for chunk, message in submit_chunks(list(txs)):
            results.extend(await self._submit_chunk(chunk, message, deadline_s))
        return results

    async def _submit_chunk(self, batch: list[SignedTransaction],
                            message: services_pb2.TransactionBatch,
                            deadline_s: float) -> list[SubmitResult]:
        last: ZonechainError | None = None
        resent = False
        for index in self._endpoint_order():
            try:
                response = await self._stub(index).SubmitTransactionBatch(message,
                                                                           timeout=deadline_s)
            except grpc.RpcError as error:
                last = translate_rpc_error(error, self.endpoints[index],
                                           "SubmitTransactionBatch")
                if not isinstance(last, ConnectionFailed):
                    raise last from None
                resent = True
                continue
            self._current = index
            return _batch_results(response, batch, resent)
        assert last is not None
        raise last

    async def wait_for_receipt(self, tx_hash: bytes, *,
                               timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> Receipt:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pause = RECEIPT_POLL_INITIAL_S
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Timeout(f"no receipt for {tx_hash.hex()} within {timeout_s} s; it may "
                              "still commit: ask get_receipt later", tx_hash)
            try:
                receipt = await self.get_receipt(tx_hash,
                                                 timeout_s=min(remaining, self.timeout_s))
            except TransportError:
                receipt = None
            if receipt is not None:
                return receipt
            await self._sleep(min(pause, max(deadline - loop.time(), 0.0)))
            pause = min(pause * 2, RECEIPT_POLL_MAX_S)

    async def submit_and_wait(self, tx: SignedTransaction, *,
                              timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
                              check: bool = True) -> Receipt:
        tx_hash = await self.submit(tx, timeout_s=min(timeout_s, self.timeout_s))
        receipt = await self.wait_for_receipt(tx_hash, timeout_s=timeout_s)
        failure = receipt_error(receipt) if check else None
        if failure is not None:
            raise failure
        return receipt

    # --- signing and sending with managed nonces -------------------------------------

    def nonce_manager(self, key: Key) -> NonceManager:
        """The one NonceManager this client uses for ``key`` (primed asynchronously)."""
        manager = self._nonces.get(key.address)
        if manager is None:
            manager = self._nonces[key.address] = NonceManager()
        return manager

    async def call_contract(self, key: Key, contract: bytes | str, method: str,
                            args: bytes = b"", *, zone: str, gas_limit: int = DEFAULT_GAS_LIMIT,
                            timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> Receipt:
        address = to_address(contract, "contract")
        chain_id = await self.chain_id()
        return await self._transact(key, lambda nonce: build_call(
            chain_id=chain_id, sender=key, nonce=nonce, contract=address, method=method,
            args=args, zone=zone, gas_limit=gas_limit), timeout_s)

    async def deploy(self, key: Key, code: bytes, init_args: bytes = b"", *, zone: str,
                     gas_limit: int = DEFAULT_GAS_LIMIT,
                     timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> Receipt:
        chain_id = await self.chain_id()
        return await self._transact(key, lambda nonce: build_deploy(
            chain_id=chain_id, sender=key, nonce=nonce, code=code, init_args=init_args,
            zone=zone, gas_limit=gas_limit), timeout_s)

    # --- governance (``Client``'s; sdk/governance.py builds the actions) ---------------

    async def propose(self, key: Key, action: Action, *, expiry_height: int | None = None,
                      lifetime_blocks: int = PROPOSAL_LIFETIME_DEFAULT,
                      timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> GovernanceResult:
        """``Client.propose``: expiry defaults to the node's height + ``lifetime_blocks``."""
        expiry = ((await self.status()).height + lifetime_blocks if expiry_height is None
                  else expiry_height)
        chain_id = await self.chain_id()
        receipt = await self._transact(key, lambda nonce: build_proposal(
            chain_id=chain_id, sender=key, nonce=nonce, action=action,
            expiry_height=expiry), timeout_s)
        return GovernanceResult.from_receipt(receipt)

    async def approve(self, key: Key, proposal_id: int, *,
                      timeout_s: float = DEFAULT_WAIT_TIMEOUT_S) -> GovernanceResult:
        """``Client.approve``: ``executed`` says whether this approval ran the proposal."""
        chain_id = await self.chain_id()
        receipt = await self._transact(key, lambda nonce: build_approval(
            chain_id=chain_id, sender=key, nonce=nonce, proposal_id=proposal_id), timeout_s)
        return GovernanceResult.from_receipt(receipt)

    async def proposal(self, proposal_id: int, *, height: int | None = None,
                       timeout_s: float | None = None) -> ProposalView | None:
        """``Client.proposal``: the record at ``height`` (None: latest), or None."""
        value = await self.read_state(proposal_key(proposal_id), height=height,
                                      timeout_s=timeout_s)
        return None if value.value is None else decode_proposal(value.value, value.height)

    async def proposals(self, *, height: int | None = None,
                        timeout_s: float | None = None) -> list[ProposalView]:
        """``Client.proposals``: every proposal, in id order, all read at one height."""
        counter = await self.read_state(NEXT_PROPOSAL_ID_KEY, height=height,
                                        timeout_s=timeout_s)
        found = []
        for proposal_id in range(1, decode_next_id(counter.value)):
            view = await self.proposal(proposal_id, height=counter.height, timeout_s=timeout_s)
            if view is not None:
                found.append(view)
        return found

    async def _allocate(self, key: Key) -> int:
        manager = self.nonce_manager(key)
        while True:
            nonce = manager.try_allocate()
            if nonce is not None:
                return nonce
            manager.prime(await self.account_nonce(key.address))

    async def _transact(self, key: Key, make: Callable[[int], Transaction],
                        timeout_s: float) -> Receipt:
        manager = self.nonce_manager(key)
        for attempt in range(2):
            nonce = await self._allocate(key)
            try:
                signed = key.sign(make(nonce))
            except BaseException:
                manager.release(nonce)  # never signed nor sent: the next tx may take it
                raise
            try:
                await self.submit(signed, timeout_s=min(timeout_s, self.timeout_s))
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
            receipt = await self.wait_for_receipt(signed.hash, timeout_s=timeout_s)
            failure = receipt_error(receipt)
            if failure is not None:
                raise failure
            return receipt
        raise AssertionError("unreachable: the second attempt returns or raises")

    def contract(self, address: bytes | str, abi: ContractAbi | str | Path, *,
                 key: Key | None = None, zone: str | None = None,
                 gas_limit: int = DEFAULT_GAS_LIMIT) -> AsyncContract:
        """A typed async proxy of the contract at ``address``; its methods are coroutines."""
        from zonechain.sdk.contract import AsyncContract

        return AsyncContract(self, address, abi, key=key, zone=zone, gas_limit=gas_limit)
