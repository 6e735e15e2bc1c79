"""Transport errors, and the exhaustive translation of grpc status codes into them.

    TransportError                 anything the peer transport reports
    ├── PeerUnavailable            could not reach the peer, or the call was cut
    │                              (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, ABORTED)
    ├── PeerRejected               the peer refused what we sent
    │   ├── MessageRejected        malformed or out of place (INVALID_ARGUMENT,
    │   │                          FAILED_PRECONDITION, OUT_OF_RANGE, NOT_FOUND,
    │   │                          ALREADY_EXISTS)
    │   ├── RateLimited            RESOURCE_EXHAUSTED: too fast, too big, too many calls
    │   └── NotAuthorized          UNAUTHENTICATED, PERMISSION_DENIED
    ├── PeerFault                  the peer broke (UNKNOWN, INTERNAL, UNIMPLEMENTED,
    │                              DATA_LOSS)
    └── ListenFailed               our own server could not bind its address

``STATUS_TO_ERROR`` names every ``grpc.StatusCode`` (OK maps to None); a test
fails if a grpc upgrade adds a code nobody classified (STYLE.md). Nothing
else translates grpc exceptions: callers use ``from_rpc_error``.
"""

from __future__ import annotations

from typing import Final

import grpc


class TransportError(Exception):
    """A transport failure; ``status`` is the grpc code behind it, when there is one."""

    def __init__(self, message: str, status: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.status = status


class PeerUnavailable(TransportError):
    """The peer could not be reached, or the connection or call was cut."""


class PeerRejected(TransportError):
    """The peer refused the call or message."""


class MessageRejected(PeerRejected):
    """The peer found the message malformed, or out of place."""


class RateLimited(PeerRejected):
    """The peer refused for a limit: rate, size or concurrency."""


class NotAuthorized(PeerRejected):
    """The peer did not accept our identity."""


class PeerFault(TransportError):
    """The peer failed internally or does not implement the call."""


class ListenFailed(TransportError):
    """The transport's server could not listen on its address (in use, or not local)."""


STATUS_TO_ERROR: Final[dict[grpc.StatusCode, type[TransportError] | None]] = {
    grpc.StatusCode.OK: None,
    grpc.StatusCode.CANCELLED: PeerUnavailable,
    grpc.StatusCode.UNKNOWN: PeerFault,
    grpc.StatusCode.INVALID_ARGUMENT: MessageRejected,
    grpc.StatusCode.DEADLINE_EXCEEDED: PeerUnavailable,
    grpc.StatusCode.NOT_FOUND: MessageRejected,
    grpc.StatusCode.ALREADY_EXISTS: MessageRejected,
    grpc.StatusCode.PERMISSION_DENIED: NotAuthorized,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited,
    grpc.StatusCode.FAILED_PRECONDITION: MessageRejected,
    grpc.StatusCode.ABORTED: PeerUnavailable,
    grpc.StatusCode.OUT_OF_RANGE: MessageRejected,
    grpc.StatusCode.UNIMPLEMENTED: PeerFault,
    grpc.StatusCode.INTERNAL: PeerFault,
    grpc.StatusCode.UNAVAILABLE: PeerUnavailable,
    grpc.StatusCode.DATA_LOSS: PeerFault,
    grpc.StatusCode.UNAUTHENTICATED: NotAuthorized,
}


def error_for_status(code: grpc.StatusCode, details: str, peer: str) -> TransportError:
    """The most specific TransportError for a non-OK grpc status."""
    error_class = STATUS_TO_ERROR.get(code) or PeerFault
    return error_class(f"peer {peer}: {code.name}: {details}", code)


def from_rpc_error(error: grpc.RpcError, peer: str) -> TransportError:
    """Translate an exception raised by a grpc call (it is also a grpc.Call)."""
    if isinstance(error, grpc.Call):
        return error_for_status(error.code(), error.details() or "", peer)
    return PeerFault(f"peer {peer}: {error!r}")
