"""Every error the SDK raises, in one tree, and the one place gRPC errors are translated.

The SDK never lets a ``grpc.RpcError`` (or any other transport exception)
reach the caller: ``translate_rpc_error`` maps EVERY ``grpc.StatusCode`` to
the most specific class below (``RPC_STATUS_ERRORS``; a test fails when a
grpcio upgrade adds a code nobody classified). Catch ``ZonechainError`` to
catch everything the SDK raises on purpose::

    ZonechainError
    ├── TransportError              the node could not be asked (retryable for reads)
    │   ├── ConnectionFailed        no endpoint reachable (UNAVAILABLE, CANCELLED)
    │   └── Timeout                 no answer in time (DEADLINE_EXCEEDED, or a receipt wait)
    ├── RequestRejected             the node answered "no" to the request itself
    │   ├── MempoolRejected         a transaction refused at the door: ``reason_code``
    │   │                           (nonce_too_low, duplicate, mempool_full, ...) + ``message``
    │   ├── InvalidRequest          malformed or out-of-range request (INVALID_ARGUMENT, ...)
    │   ├── NotFound                no such block / transaction / contract (NOT_FOUND)
    │   ├── Unauthorized            PERMISSION_DENIED / UNAUTHENTICATED at the node's door
    │   ├── Unsupported             the node does not offer this call (UNIMPLEMENTED)
    │   └── NodeBusy                RESOURCE_EXHAUSTED / ABORTED / FAILED_PRECONDITION
    ├── NodeError                   the node failed (INTERNAL, UNKNOWN, DATA_LOSS) or
    │                               answered with bytes that are not a valid message
    ├── TransactionFailed           the tx is in a block, its receipt says it failed
    │   ├── ContractError           the contract failed: ``code`` + ``message`` (reverted)
    │   ├── OutOfGas                the gas limit ran out (reverted, gas charged)
    │   └── PermissionDenied        the zone policy refused it (not executed)
    ├── QueryFailed                 a read-only (view) call failed: ``code`` + ``message``
    ├── VerificationFailed          a proof or a commit certificate did not check out
    ├── InvalidTransaction          a transaction field out of range (also a ValueError);
    │                               raised while building, before signing or sending
    ├── KeyFileError                a key file that cannot be read, parsed or decrypted
    │   └── WrongPassphrase         the passphrase does not open this key file
    └── AbiArgumentError            an argument that does not fit the ABI (``parameter``);
                                    raised before anything is sent

``TransactionFailed`` and its subclasses carry the whole ``receipt``;
``MempoolRejected`` and ``Timeout`` carry the ``tx_hash`` when one exists, so a
caller can ask ``get_receipt`` later (re-submitting the SAME signed
transaction is safe: the node identifies it by hash and the nonce stops a
second execution).

Retry rule (``is_transient``): only ``TransportError`` is transient. Clients
retry it for idempotent reads; they never re-submit a transaction on their
own after a timeout (see client.py).
"""

from __future__ import annotations

import re
from typing import Final

import grpc

from zonechain.node.types.receipt import Receipt, ReceiptStatus


class ZonechainError(Exception):
    """Base of every error the SDK raises on purpose."""


# --- transport --------------------------------------------------------------------


class TransportError(ZonechainError):
    """The request did not get an answer: the node was unreachable or too slow."""


class ConnectionFailed(TransportError):
    """No endpoint could be reached."""


class Timeout(TransportError):
    """No answer within the deadline. ``tx_hash`` is set when waiting for a transaction."""

    def __init__(self, message: str, tx_hash: bytes | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


# --- the node said no -------------------------------------------------------------


class RequestRejected(ZonechainError):
    """The node refused the request itself."""


class MempoolRejected(RequestRejected):
    """The node's mempool refused a transaction; ``reason_code`` is stable, ``message`` says why."""

    def __init__(self, reason_code: str, message: str, tx_hash: bytes | None = None) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message
        self.tx_hash = tx_hash


class InvalidRequest(RequestRejected):
    """The request was malformed or out of range."""


class NotFound(RequestRejected):
    """The block, transaction or contract asked for does not exist."""


class Unauthorized(RequestRejected):
    """The node refused to serve this caller."""


class Unsupported(RequestRejected):
    """The node does not implement this call."""


class NodeBusy(RequestRejected):
    """The node is overloaded or not in a state to answer now; try later."""


class NodeError(ZonechainError):
    """The node failed internally, or sent something that is not a valid message."""


# --- the transaction ran and failed --------------------------------------------------


class TransactionFailed(ZonechainError):
    """A committed transaction whose receipt is not a success."""

    def __init__(self, receipt: Receipt) -> None:
        super().__init__(
            f"transaction {receipt.tx_hash.hex()} failed: "
            f"{receipt.error_code}: {receipt.error_message}"
        )
        self.receipt = receipt
        self.tx_hash = receipt.tx_hash
        self.code = receipt.error_code
        self.message = receipt.error_message


class ContractError(TransactionFailed):
    """The contract failed (trap, abort, limit...): its writes were discarded, gas charged."""


class OutOfGas(TransactionFailed):
    """The transaction used its whole gas limit: writes discarded, gas charged."""


class PermissionDenied(TransactionFailed):
    """The zone policy refused the transaction: not executed, no gas charged."""


OUT_OF_GAS_CODE: Final = "out_of_gas"
"""The receipt code of an exhausted gas limit (vm/traps.py)."""


def receipt_error(receipt: Receipt) -> TransactionFailed | None:
    """The exception a failed receipt stands for, or None for a successful one."""
    if receipt.status is ReceiptStatus.SUCCESS:
        return None
    if receipt.status is ReceiptStatus.REJECTED:
        return PermissionDenied(receipt)
    if receipt.error_code == OUT_OF_GAS_CODE:
        return OutOfGas(receipt)
    return ContractError(receipt)


class QueryFailed(ZonechainError):
    """A read-only contract call failed on the node: ``code`` and ``message`` say why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- local errors ----------------------------------------------------------------------


class VerificationFailed(ZonechainError):
    """A proof, header or commit certificate from the node did not verify."""


class InvalidTransaction(ZonechainError, ValueError):
    """A transaction that cannot be built: a field out of range, a bad address..."""


class KeyFileError(ZonechainError):
    """A key file that cannot be read, is not a key file, or was altered."""


class WrongPassphrase(KeyFileError):
    """The passphrase does not open this key file."""


class AbiArgumentError(ZonechainError, ValueError):
    """An argument that does not fit the contract's ABI; ``parameter`` names it when known."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


_PARAMETER_IN_MESSAGE = re.compile(r"(?:argument|parameter) '([a-z][a-z0-9_]*)'")


def abi_argument_error(error: Exception) -> AbiArgumentError:
    """Our AbiArgumentError for a contracts.abi AbiError, naming the parameter it mentions."""
    text = str(error)
    match = _PARAMETER_IN_MESSAGE.search(text)
    return AbiArgumentError(text, match.group(1) if match else None)


# --- gRPC translation -----------------------------------------------------------------

RPC_STATUS_ERRORS: Final[dict[grpc.StatusCode, type[ZonechainError]]] = {
    # OK never arrives as an error; if a broken server raises it, the node misbehaved.
    grpc.StatusCode.OK: NodeError,
    # Client-side cancellation or a channel torn down mid-call (also what too many
    # calls in flight produce): the request may not have been served.
    grpc.StatusCode.CANCELLED: ConnectionFailed,
    grpc.StatusCode.UNKNOWN: NodeError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: InvalidRequest,
    grpc.StatusCode.PERMISSION_DENIED: Unauthorized,
    grpc.StatusCode.RESOURCE_EXHAUSTED: NodeBusy,
    grpc.StatusCode.FAILED_PRECONDITION: NodeBusy,
    grpc.StatusCode.ABORTED: NodeBusy,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequest,
    grpc.StatusCode.UNIMPLEMENTED: Unsupported,
    grpc.StatusCode.INTERNAL: NodeError,
    grpc.StatusCode.UNAVAILABLE: ConnectionFailed,
    grpc.StatusCode.DATA_LOSS: NodeError,
    grpc.StatusCode.UNAUTHENTICATED: Unauthorized,
}
"""Every gRPC status code and the SDK error it becomes."""


def translate_rpc_error(error: grpc.RpcError, endpoint: str, method: str) -> ZonechainError:
    """The SDK error for a failed call ``method`` on ``endpoint`` (the caller raises it)."""
    code = _status_code(error)
    details = _details(error)
    error_class = RPC_STATUS_ERRORS.get(code, NodeError) if code is not None else NodeError
    name = code.name if code is not None else "no status"
    message = f"{method} on {endpoint}: {name}"
    if details:
        message += f": {details}"
    return error_class(message)


def is_transient(error: ZonechainError) -> bool:
    """Whether repeating the same idempotent request may succeed."""
    return isinstance(error, TransportError)


def _status_code(error: grpc.RpcError) -> grpc.StatusCode | None:
    code_method = getattr(error, "code", None)
    if code_method is None:
        return None
    try:
        code = code_method()
    except Exception:  # a broken error object: treat as an unclassified failure
        return None
    return code if isinstance(code, grpc.StatusCode) else None


def _details(error: grpc.RpcError) -> str:
    details_method = getattr(error, "details", None)
    if details_method is None:
        return ""
    try:
        details = details_method()
    except Exception:
        return ""
    return details if isinstance(details, str) else ""
