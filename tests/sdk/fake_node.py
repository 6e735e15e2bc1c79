"""An in-process FAKE zonechain node for SDK tests: a real gRPC server, a tiny model behind it.

``FakeNode`` serves the ``Client`` service of proto/services.proto on a
loopback port (port 0: the OS picks) with a ClientServicer backed by
``FakeChain``, a small in-memory model of what the SDK relies on:

- a mempool with the real reason codes (duplicate, nonce_too_low,
  nonce_taken, wrong_chain) and per-sender nonce order;
- blocks: each admitted transaction that is runnable (its nonce is the
  account's) is committed at once in its own block (``auto_commit``), with
  real headers, tx roots and commit certificates signed by ``validators``;
- one contract kind, a token following contracts/zones/token/token.abi.json:
  ``transfer`` fails with ``aborted: insufficient balance`` when the sender
  is short, a gas limit below ``GAS_PER_CALL`` gives ``out_of_gas``, and the
  zone ``closed`` is refused by policy (REJECTED, ``zone_closed``);
- ``Simulate``: the tx executed on the current state, which is then restored
  (``bad_nonce`` / ``wrong_chain`` for an invalid one; empty signature = unsigned);
- state (accounts' nonces, token balances) kept per height, as the node keeps
  it: view calls and state reads at any height 1..latest (0: the newest), and
  with a proof (root and Merkle proof from zonechain.node.state.reference,
  header H+1 per the state-root rule of docs/PROTOCOL.md) at 1..latest - 1;
  above that OUT_OF_RANGE, as the node answers.

Faults for failover/retry tests: ``fail(method, code, times)`` makes the
next ``times`` calls of ``method`` abort with ``code``; ``stall(method)``
makes calls of ``method`` block until ``release_stalls()`` (a slow node, for
deadline tests; waits on an Event, never sleeps).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from zonechain.contracts.abi import ContractAbi, load_abi
from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.crypto import PrivateKey, sign_vote, verify_signature
from zonechain.node.query_auth import query_signing_bytes
from zonechain.node.state.proof import hash_key, hash_value
from zonechain.node.state.reference import reference_proof_hashed, reference_root
from zonechain.node.types import (
    Block,
    BlockHeader,
    CallPayload,
    Commit,
    CommitSignature,
    DeployPayload,
    Event,
    Receipt,
    ReceiptStatus,
    SignedTransaction,
    Transaction,
    VoteType,
    contract_address,
    evidence_root,
    last_commit_hash,
    tx_root,
)
from zonechain.node.types.address import account_address
from zonechain.node.types.limits import SIGNATURE_BYTES
from zonechain.proto import services_pb2, services_pb2_grpc
from zonechain.vm.state import contract_storage_key

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN_ABI_PATH = REPOSITORY / "contracts" / "zones" / "token" / "token.abi.json"
CHAIN_ID = "fake-chain"
GAS_PER_CALL = 1_000
CLOSED_ZONE = "closed"
STALL_WAIT_S = 30.0
"""Upper bound on a stalled call (the test releases it long before)."""


@dataclass
class FakeChain:
    """The in-memory model; every method runs under ``lock``."""

    chain_id: str = CHAIN_ID
    validator_keys: tuple[PrivateKey, ...] = field(
        default_factory=lambda: tuple(PrivateKey.from_seed(bytes([i + 1]) * 32)
                                      for i in range(4)))
    auto_commit: bool = True
    stream_receipts_max: int | None = None
    """Receipts StreamBlocks sends per block when asked (None: all): fewer models a
    node whose receipts did not fit in one message; 0 a node without the field."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    abi: ContractAbi = field(default_factory=lambda: load_abi(TOKEN_ABI_PATH))

    def __post_init__(self) -> None:
        self.validators = ValidatorSet(Validator(k.public_key, 1) for k in self.validator_keys)
        self.pending: dict[bytes, SignedTransaction] = {}
        self.receipts: dict[bytes, tuple[Receipt, int, int]] = {}
        self.included: dict[bytes, tuple[SignedTransaction, int, int]] = {}
        self.state: dict[bytes, bytes] = {}
        self.states: list[dict[bytes, bytes]] = [{}]       # state after height h
        self.blocks: list[Block] = []                       # blocks[h - 1]
        self.commits: list[Commit] = []
        self.contracts: set[bytes] = set()
        self.submissions = 0
        self.events: list[tuple[int, bytes, int, Event]] = []

    # --- accounts and admission ----------------------------------------------------

    def nonce_of(self, address: bytes) -> int:
        encoded = self.state.get(account_key(address))
        return AccountRecord.decode(encoded).nonce if encoded else 0

    def admit(self, signed: SignedTransaction) -> tuple[bool, str, str]:
        with self.lock:
            self.submissions += 1
            tx = signed.tx
            if signed.hash in self.pending or signed.hash in self.included:
                return False, "duplicate", "already held"
            if tx.chain_id != self.chain_id:
                return False, "wrong_chain", f"chain {tx.chain_id!r}"
            account = self.nonce_of(tx.sender_address)
            if tx.nonce < account:
                return False, "nonce_too_low", f"nonce {tx.nonce} < account nonce {account}"
            for other in self.pending.values():
                if other.tx.sender == tx.sender and other.tx.nonce == tx.nonce:
                    return False, "nonce_taken", f"nonce {tx.nonce} is held"
            self.pending[signed.hash] = signed
            if self.auto_commit:
                self.commit_runnable()
            return True, "", ""

    # --- blocks ---------------------------------------------------------------------

    def commit_runnable(self) -> int:
        """Commit, one block each, every pending tx whose nonce is its account's."""
        committed = 0
        progress = True
        while progress:
            progress = False
            for tx_hash, signed in sorted(self.pending.items()):
                if signed.tx.nonce == self.nonce_of(signed.tx.sender_address):
                    del self.pending[tx_hash]
                    self.commit_block([signed])
                    committed += 1
                    progress = True
                    break
        return committed

    def commit_block(self, txs: list[SignedTransaction]) -> None:
        height = len(self.blocks) + 1
        header_root = reference_root(self.state)
        previous = self.blocks[-1].hash if self.blocks else bytes(32)
        last_commit = self.commits[-1] if self.commits else None
        header = BlockHeader(
            self.chain_id, height, 1_000 * height, previous, tx_root(txs), header_root,
            bytes(32), last_commit_hash(last_commit), self.validators.hash,
            evidence_root(()), self.validator_keys[0].address,
        )
        block = Block(header, tuple(txs), last_commit)
        for index, signed in enumerate(txs):
            receipt = self.execute(signed)
            self.receipts[signed.hash] = (receipt, height, index)
            self.included[signed.hash] = (signed, height, index)
            for event_index, event in enumerate(receipt.events):
                self.events.append((height, signed.hash, event_index, event))
        self.blocks.append(block)
        self.commits.append(self.sign_commit(height, header.hash))
        self.states.append(dict(self.state))

    def sign_commit(self, height: int, block_hash: bytes) -> Commit:
        votes = [sign_vote(key, VoteType.PRECOMMIT, self.chain_id, height, 0, block_hash)
                 for key in self.validator_keys]
        return Commit.from_signatures(
            height, 0, block_hash, (CommitSignature(v.validator, v.signature) for v in votes))

    # --- execution ------------------------------------------------------------------

    def execute(self, signed: SignedTransaction) -> Receipt:
        tx = signed.tx
        sender = tx.sender_address
        self.state[account_key(sender)] = AccountRecord(tx.nonce + 1).encode()
        if tx.zone == CLOSED_ZONE:
            return Receipt(signed.hash, ReceiptStatus.REJECTED, 0, error_code="zone_closed",
                           error_message=f"zone {tx.zone!r} admits no transactions")
        if tx.gas_limit < GAS_PER_CALL:
            return Receipt(signed.hash, ReceiptStatus.CONTRACT_ERROR, tx.gas_limit,
                           error_code="out_of_gas", error_message="gas limit reached")
        payload = tx.payload
        if isinstance(payload, DeployPayload):
            address = contract_address(sender, tx.nonce)
            self.contracts.add(address)
            self.abi.method("init").decode_args(payload.init_args)
            return Receipt(signed.hash, ReceiptStatus.SUCCESS, GAS_PER_CALL,
                           created_contract=address)
        assert isinstance(payload, CallPayload)
        return self.call(signed.hash, sender, payload)

    def balance(self, contract: bytes, owner: bytes,
                state: dict[bytes, bytes] | None = None) -> int:
        encoded = (self.state if state is None else state).get(
            contract_storage_key(contract, b"bal" + owner))
        return int.from_bytes(encoded, "little") if encoded else 0

    def set_balance(self, contract: bytes, owner: bytes, amount: int) -> None:
        self.state[contract_storage_key(contract, b"bal" + owner)] = amount.to_bytes(16, "little")

    def call(self, tx_hash: bytes, sender: bytes, payload: CallPayload) -> Receipt:
        contract = payload.contract
        if contract not in self.contracts:
            return Receipt(tx_hash, ReceiptStatus.CONTRACT_ERROR, GAS_PER_CALL,
                           error_code="contract_not_found", error_message="no such contract")
        method = self.abi.method(payload.method)
        args = method.decode_args(payload.args)
        if payload.method == "mint":
            self.set_balance(contract, args["to"], self.balance(contract, args["to"])
                             + args["amount"])
            data = self.abi.event("mint").encode(args["to"], args["amount"])
            return Receipt(tx_hash, ReceiptStatus.SUCCESS, GAS_PER_CALL,
                           events=(Event(contract, b"mint", data),))
        if payload.method == "transfer":
            have = self.balance(contract, sender)
            if have < args["amount"]:
                return Receipt(tx_hash, ReceiptStatus.CONTRACT_ERROR, GAS_PER_CALL,
                               error_code="aborted", error_message="insufficient balance")
            self.set_balance(contract, sender, have - args["amount"])
            self.set_balance(contract, args["to"], self.balance(contract, args["to"])
                             + args["amount"])
            data = self.abi.event("transfer").encode(sender, args["to"], args["amount"])
            return Receipt(tx_hash, ReceiptStatus.SUCCESS, GAS_PER_CALL,
                           events=(Event(contract, b"transfer", data),))
        return Receipt(tx_hash, ReceiptStatus.CONTRACT_ERROR, GAS_PER_CALL,
                       error_code="method_not_found", error_message="not in the fake")

    def view(self, query: services_pb2.ViewCallQuery,
             height: int | None = None) -> tuple[bytes, str, str]:
        """The view call on the state after ``height`` (None: the latest)."""
        if query.contract not in self.contracts:
            return b"", "contract_not_found", "no such contract"
        method = self.abi.method(query.method)
        args = method.decode_args(query.args)
        state = self.state if height is None else self.states[height]
        if query.method == "balance_of":
            balance = self.balance(query.contract, args["owner"], state)
            return method.encode_result(balance), "", ""
        if query.method == "name":
            return method.encode_result("Fake"), "", ""
        return b"", "method_not_found", "not in the fake"

    def height(self) -> int:
        return len(self.blocks)


def out_of_range(height: int, newest: int) -> str:
    """The node's OUT_OF_RANGE message (node/service.py)."""
    if newest < 0:
        return "no height is provable yet (the first block has not committed)"
    return f"height {height}: this node serves heights 1..{newest}"


class FakeServicer(services_pb2_grpc.ClientServicer):
    """The ClientService over a FakeChain, with injectable faults."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.failures: dict[str, list[grpc.StatusCode]] = {}
        self.stalled: set[str] = set()
        self.stall_release = threading.Event()
        self.calls: dict[str, int] = {}
        self.replacements: dict[str, Callable[[Any, Any], Any]] = {}
        self.readers: list[bytes] = []
        """Addresses of the signed queries' readers, in arrival order (checked signatures)."""
        self._lock = threading.Lock()

    def _enter(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            queued = self.failures.get(method)
            code = queued.pop(0) if queued else None
        if code is not None:
            context.abort(code, f"injected {code.name}")
        if method in self.stalled:
            self.stall_release.wait(STALL_WAIT_S)

    def SubmitTransaction(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("SubmitTransaction", context)
        return self._submit(request)

    def _submit(self, request: Any) -> services_pb2.SubmitResult:
        signed = SignedTransaction.from_proto(request)
        accepted, code, message = self.chain.admit(signed)
        return services_pb2.SubmitResult(tx_hash=signed.hash, accepted=accepted,
                                         error_code=code, error_message=message)

    def SubmitTransactions(self, request_iterator: Iterator[Any],
                           context: grpc.ServicerContext) -> Any:
        self._enter("SubmitTransactions", context)
        results = [self._submit(request) for request in request_iterator]
        return services_pb2.SubmitBatchResult(results=results)

    def SubmitTransactionBatch(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("SubmitTransactionBatch", context)
        return services_pb2.SubmitBatchResult(results=[self._submit(tx) for tx in request.txs])

    def GetTransaction(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetTransaction", context)
        with self.chain.lock:
            pending = self.chain.pending.get(request.tx_hash)
            if pending is not None:
                return services_pb2.GetTransactionResponse(found=True, tx=pending.to_proto(),
                                                           pending=True)
            found = self.chain.included.get(request.tx_hash)
        if found is None:
            return services_pb2.GetTransactionResponse(found=False)
        signed, height, index = found
        return services_pb2.GetTransactionResponse(found=True, tx=signed.to_proto(),
                                                   height=height, index=index)

    def replace(self, method: str, answer: Callable[[Any, Any], Any]) -> None:
        """Answer ``method`` with ``answer(request, context)`` from now on (GetReceipt only)."""
        self.replacements[method] = answer

    def GetReceipt(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetReceipt", context)
        if "GetReceipt" in self.replacements:
            return self.replacements["GetReceipt"](request, context)
        with self.chain.lock:
            found = self.chain.receipts.get(request.tx_hash)
        if found is None:
            return services_pb2.GetReceiptResponse(found=False)
        receipt, height, index = found
        return services_pb2.GetReceiptResponse(found=True, receipt=receipt.to_proto(),
                                               height=height, index=index)

    def GetBlock(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetBlock", context)
        with self.chain.lock:
            height = request.height or self.chain.height()
            if not 1 <= height <= self.chain.height():
                return services_pb2.GetBlockResponse(found=False)
            block, commit = self.chain.blocks[height - 1], self.chain.commits[height - 1]
        return services_pb2.GetBlockResponse(found=True, block=block.to_proto(),
                                             commit=commit.to_proto())

    def Status(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Status", context)
        with self.chain.lock:
            height = self.chain.height()
            latest = self.chain.blocks[-1].hash if height else bytes(32)
            return services_pb2.StatusResponse(
                chain_id=self.chain.chain_id, height=height, latest_block_hash=latest,
                state_root=reference_root(self.chain.state),
                mempool_size=len(self.chain.pending))

    def Query(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Query", context)
        if request.HasField("reader"):  # signed: check it as the node does, no zone policy
            reader = request.reader
            try:
                valid = verify_signature(reader.public_key, query_signing_bytes(
                    self.chain.chain_id, request), reader.signature)
            except ValueError:
                valid = False
            if not valid:
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              "bad_query_signature: the reader's signature does not verify")
            with self._lock:
                self.readers.append(account_address(reader.public_key))
        with self.chain.lock:
            if request.WhichOneof("query") == "view_call":
                latest = self.chain.height()
                height = request.height or latest
                if height > latest:
                    context.abort(grpc.StatusCode.OUT_OF_RANGE, out_of_range(height, latest))
                data, code, message = self.chain.view(request.view_call, height)
                return services_pb2.QueryResponse(height=height, return_data=data,
                                                  error_code=code, error_message=message)
            return self._state_query(request, context)

    def _state_query(self, request: Any, context: grpc.ServicerContext) -> Any:
        chain = self.chain
        latest = chain.height() - 1 if request.prove else chain.height()
        height = request.height or latest
        if height > latest or height < 0:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, out_of_range(height, latest))
        state = chain.states[height]
        key = request.state_key.key
        response = services_pb2.QueryResponse(height=height)
        if key in state:
            response.value = state[key]
        if request.prove:
            leaves = {hash_key(k): hash_value(v) for k, v in state.items()}
            proof = reference_proof_hashed(leaves, hash_key(key))
            response.proof = proof.encode()
            response.header.CopyFrom(chain.blocks[height].header.to_proto())
            response.commit.CopyFrom(chain.commits[height].to_proto())
        return response

    def StreamEvents(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("StreamEvents", context)
        with self.chain.lock:
            records = list(self.chain.events)
        for height, tx_hash, index, event in records:
            if height < request.from_height:
                continue
            if request.contract and event.contract != request.contract:
                continue
            yield services_pb2.EventRecord(height=height, tx_hash=tx_hash, event_index=index,
                                           event=event.to_proto())

    def Simulate(self, request: Any, context: grpc.ServicerContext) -> Any:
        """The dry run: execute on the current state, then put state and contracts back."""
        self._enter("Simulate", context)
        wire = request.tx
        signed = (SignedTransaction.from_proto(wire) if wire.signature else
                  SignedTransaction(Transaction.from_proto(wire.tx), bytes(SIGNATURE_BYTES)))
        chain = self.chain
        with chain.lock:
            height = chain.height()
            expected = chain.nonce_of(signed.tx.sender_address)
            if signed.tx.chain_id != chain.chain_id:
                return services_pb2.SimulateResponse(
                    height=height, error_code="wrong_chain", error_message="another chain")
            if signed.tx.nonce != expected:
                return services_pb2.SimulateResponse(
                    height=height, error_code="bad_nonce",
                    error_message=f"nonce {signed.tx.nonce}, the account expects {expected}")
            state, contracts = dict(chain.state), set(chain.contracts)
            try:
                receipt = chain.execute(signed)
            finally:
                chain.state, chain.contracts = state, contracts
        return services_pb2.SimulateResponse(height=height, valid=True,
                                             receipt=receipt.to_proto())

    def StreamBlocks(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("StreamBlocks", context)
        with self.chain.lock:
            pairs = list(zip(self.chain.blocks, self.chain.commits, strict=True))
        for block, commit in pairs[max(request.from_height, 1) - 1:]:
            yield services_pb2.BlockWithCommit(
                block=block.to_proto(), commit=commit.to_proto(),
                receipts=self._stream_receipts(block) if request.with_receipts else [])

    def _stream_receipts(self, block: Block) -> list[Any]:
        with self.chain.lock:
            receipts = [self.chain.receipts[signed.hash][0].to_proto() for signed in block.txs]
        limit = self.chain.stream_receipts_max
        return receipts if limit is None else receipts[:limit]


class FakeNode:
    """A gRPC server on 127.0.0.1:<free port> serving a FakeChain (``with`` or start/stop)."""

    def __init__(self, chain: FakeChain | None = None,
                 tls: tuple[bytes, bytes] | None = None) -> None:
        """``tls``: (private key PEM, certificate PEM) to serve TLS instead of plaintext."""
        self.chain = chain or FakeChain()
        self.servicer = FakeServicer(self.chain)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        services_pb2_grpc.add_ClientServicer_to_server(  # type: ignore[no-untyped-call]
            self.servicer, self.server)
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            credentials = grpc.ssl_server_credentials([tls])
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.endpoint = f"127.0.0.1:{self.port}"

    def start(self) -> FakeNode:
        self.server.start()
        return self

    def stop(self) -> None:
        self.servicer.stall_release.set()
        self.server.stop(grace=None).wait()

    def __enter__(self) -> FakeNode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail(self, method: str, code: grpc.StatusCode, times: int = 1) -> None:
        with self.servicer._lock:
            self.servicer.failures.setdefault(method, []).extend([code] * times)

    def stall(self, method: str) -> None:
        self.servicer.stalled.add(method)

    def calls(self, method: str) -> int:
        with self.servicer._lock:
            return self.servicer.calls.get(method, 0)


def self_signed_certificate() -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) for 127.0.0.1 and localhost, valid for a day."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zonechain fake node")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)
