"""The VM's two kinds of error, and the difference matters.

``ContractError`` — permitted, deterministic failures of a call: out of gas, a
trap, an abort with a message, a broken limit. They are recorded in the
receipt, the call's state changes are discarded and its gas is charged. Their
``code`` and ``message`` are part of consensus (they land in receipts), so a
message never holds anything that varies between machines: no tracebacks, no
memory addresses, no timings, no wasmtime-internal wording.

``DeployError`` — code refused before it is compiled or stored (gatekeeper).
Deterministic too: every node refuses the same bytes with the same code.

``NodeFault`` — a bug or a non-deterministic failure inside the node itself
(I/O error, unexpected exception in host code). It is never swallowed and never
turned into a receipt: the node stops rather than risk diverging.

    VMError
    ├── DeployError            code rejected at deploy (gatekeeper rules)
    ├── ContractError          deterministic call failure, lands in a receipt
    └── NodeFault              runtime bug / I/O — crash and die
"""

from __future__ import annotations


class VMError(Exception):
    """Base of every error raised by zonechain.vm."""


class DeployError(VMError):
    """Wasm code refused at deploy. ``code`` names the rule broken (stable, documented)."""

    code: str = "deploy_rejected"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ContractError(VMError):
    """A deterministic call failure recorded in the receipt; state reverted, gas charged."""

    code: str = "contract_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NodeFault(VMError):
    """A bug or non-deterministic failure in the node; never recorded, the node must stop."""
