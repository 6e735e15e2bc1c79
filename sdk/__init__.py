"""zonechain.sdk — the Python client for businesses and contract authors.

    from zonechain.sdk import Client, Key, load_key, deploy

    key = load_key("alice.key.json", passphrase)
    with Client(["node-a:7050", "node-b:7050"]) as client:
        token = client.contract(address, "token.abi.json", key=key, zone="payments")
        token.balance_of(key.address)               # readonly: a view call
        outcome = token.transfer(recipient, 100)    # signed, submitted, waited for

Modules:
    keys          Key (never shows its secret), save_key / load_key (encrypted, 0600)
    transactions  build_call / build_deploy, NonceManager (thread-safe), to_address
    client        Client: sync, several endpoints with failover, retries for reads
    aio           AsyncClient: the same methods as coroutines (grpc.aio)
    contract      Contract / AsyncContract proxies built from ABI files; deploy
    responses     the values clients return (Status, SubmitResult, BlockInfo, ...)
    verify        Verifier: proofs checked against a header certified by > 2/3
                  of the genesis validator set
    errors        the exception tree below; gRPC errors translated at the boundary

Every error the SDK raises on purpose is a ``ZonechainError``::

    ZonechainError
    ├── TransportError              ConnectionFailed, Timeout (retryable for reads)
    ├── RequestRejected             MempoolRejected (reason_code + message),
    │                               InvalidRequest, NotFound, Unauthorized,
    │                               Unsupported, NodeBusy
    ├── NodeError                   the node failed or sent an invalid message
    ├── TransactionFailed           ContractError (code + message), OutOfGas,
    │                               PermissionDenied: the receipt says it failed
    ├── QueryFailed                 a view call failed (code + message)
    ├── VerificationFailed          a proof or certificate did not check out
    ├── InvalidTransaction          a field out of range, before signing
    ├── KeyFileError                ... WrongPassphrase
    └── AbiArgumentError            an argument that does not fit the ABI

(sdk/errors.py draws the full tree, with the gRPC status each class comes from.)
The in-process test harness for contract authors is ``zonechain.sdk.testing``.
"""

from __future__ import annotations

from zonechain.sdk import governance
from zonechain.sdk.aio import AsyncClient
from zonechain.sdk.client import BlockWithReceipts, Client, RetryPolicy
from zonechain.sdk.contract import (
    AsyncContract,
    CallOutcome,
    Contract,
    DecodedEvent,
    SimulatedCall,
    deploy,
    deploy_async,
)
from zonechain.sdk.errors import (
    AbiArgumentError,
    ConnectionFailed,
    ContractError,
    InvalidRequest,
    InvalidTransaction,
    KeyFileError,
    MempoolRejected,
    NodeBusy,
    NodeError,
    NotFound,
    OutOfGas,
    PermissionDenied,
    QueryFailed,
    RequestRejected,
    Timeout,
    TransactionFailed,
    TransportError,
    Unauthorized,
    Unsupported,
    VerificationFailed,
    WrongPassphrase,
    ZonechainError,
)
from zonechain.sdk.governance import (
    GovernanceResult,
    ProposalView,
    build_approval,
    build_proposal,
)
from zonechain.sdk.keys import Key, load_key, save_key
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
    NonceManager,
    build_call,
    build_deploy,
    deployed_address,
    to_address,
)
from zonechain.sdk.verify import Verifier

__all__ = [
    "AbiArgumentError",
    "AsyncClient",
    "AsyncContract",
    "BlockInfo",
    "BlockWithReceipts",
    "CallOutcome",
    "Client",
    "ConnectionFailed",
    "Contract",
    "ContractError",
    "DecodedEvent",
    "EventRecord",
    "GovernanceResult",
    "InvalidRequest",
    "InvalidTransaction",
    "Key",
    "KeyFileError",
    "MempoolRejected",
    "NodeBusy",
    "NodeError",
    "NonceManager",
    "NotFound",
    "OutOfGas",
    "PermissionDenied",
    "ProposalView",
    "QueryFailed",
    "QueryResult",
    "RequestRejected",
    "RetryPolicy",
    "SimulatedCall",
    "Simulation",
    "StateValue",
    "Status",
    "SubmitResult",
    "Timeout",
    "TransactionFailed",
    "TransactionInfo",
    "TransportError",
    "Unauthorized",
    "Unsupported",
    "VerificationFailed",
    "Verifier",
    "WrongPassphrase",
    "ZonechainError",
    "build_approval",
    "build_call",
    "build_deploy",
    "build_proposal",
    "deploy",
    "deploy_async",
    "deployed_address",
    "governance",
    "load_key",
    "save_key",
    "to_address",
]
