"""Errors of the permissions and governance layer.

    PermissionsError
    ├── PolicyError             policy text or bytes that are not a valid policy
    │                           (``position``: character offset in the text, or
    │                           byte offset in the encoding)
    ├── PermissionDenied        an action refused by a zone policy; ``code`` is
    │                           stable, ``message`` names the rule
    ├── GenesisPermissionsError the genesis section (organisations, zones,
    │                           network) is not valid; ``key`` says where
    └── RecordDamaged           a record under b"g" that does not decode: a node
                                fault (state is written only by this package),
                                never a user error

``GovernanceRejected`` (a ``ContractError``) is the deterministic failure of a
governance transaction: it lands in the receipt with its ``code``.

Every message is deterministic (no addresses of Python objects, no
tracebacks): these texts end up in receipts.
"""

from __future__ import annotations

from zonechain.vm.errors import ContractError, NodeFault


class PermissionsError(Exception):
    """Base of the errors raised by zonechain.node.permissions (except GovernanceRejected)."""


class PolicyError(PermissionsError, ValueError):
    """A policy that does not parse or decode; ``position`` is where reading failed."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


class PermissionDenied(PermissionsError):
    """An action refused by a policy. ``code`` is stable; ``message`` names the rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class GenesisPermissionsError(PermissionsError, ValueError):
    """An invalid genesis permissions section; ``key`` is the dotted path of the fault."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class RecordDamaged(NodeFault):
    """A governance record in state does not decode: the node must stop."""


class GovernanceRejected(ContractError):
    """A governance transaction refused; recorded in the receipt, nothing applied."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
