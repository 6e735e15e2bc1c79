"""What the test harness raises, and why.

    HarnessError               a mistake in the test itself (not the contract)
    ├── ContractSourceError    the contract to deploy cannot be found, built or read
    └── InvalidTransaction     a chain would refuse the transaction before running it
    ContractFailed             the contract call failed (a receipt error on a real chain)

``ContractFailed`` carries exactly what a receipt on a real chain would say:
the stable error ``code`` (``aborted``, ``out_of_gas``, ``read_only``...), the
contract's ``message``, the ``gas_used`` and the whole ``receipt``
(a ``CallResult`` with ``ok == False``). Values that do not fit the ABI raise
``zonechain.contracts.abi.AbiError`` before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zonechain.sdk.testing.results import CallResult


class HarnessError(Exception):
    """A mistake in how the harness is used; the message says what and where."""


class ContractSourceError(HarnessError):
    """The contract to deploy cannot be found, built or read (the toolchain's message)."""


class InvalidTransaction(HarnessError):
    """A transaction a node would reject before execution (too large, bad zone...)."""


class ContractFailed(Exception):
    """A contract call or deploy failed; its state changes were discarded, gas was charged."""

    def __init__(self, code: str, message: str, gas_used: int, receipt: CallResult) -> None:
        super().__init__(f"{receipt.method} failed: {code}: {message} (gas used {gas_used})")
        self.code = code
        self.message = message
        self.gas_used = gas_used
        self.receipt = receipt
