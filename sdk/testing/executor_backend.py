"""The harness backend that runs every transaction through the ledger executor.

``ExecutorBackend`` hands each signed transaction to ``node.executor.Executor``
as a one-transaction block (``execute_transactions``) over an in-memory sorted
state, so a test sees exactly what a node does: the signature, chain id, gas
limit (<= ``BLOCK_GAS_MAX``), expiry and nonce rules; the nonce consumed
before the zone policy runs; the zone-policy and governance hooks; and the
receipt as the executor builds it (error codes and messages cut to the
receipt limits, ``too_many_events``, REJECTED receipts with gas 0 for policy
denials and governance refusals). Its ``Execution.receipt`` is that
``Receipt``.

Guarantees:
- a transaction the executor would refuse before running it (``InvalidBlock``)
  raises ``InvalidTransaction`` naming the executor's reason code, and
  changes nothing, not even the nonce;
- a receipt's writes are applied to the state together, after the executor
  returned; a ``NodeFault`` leaves the state exactly as it was;
- ``Execution.writes`` are the transaction's own net writes without the
  sender's account record (the nonce): ``{}`` for a failed or rejected
  transaction, the same as ``VmBackend`` reports;
- permissions are optional: with a genesis permissions section
  (node/permissions/genesis.py) the state starts with its records and the
  executor runs with ``permissions.hooks.zone_policy`` and
  ``governance_hook``, as a node with that genesis does; without one every
  transaction is allowed and governance transactions are REJECTED with
  ``governance_unavailable``, as on a node without a permissions module.

Queries run like ``Ledger.query``: ``VirtualMachine.query`` on the committed
state with the gas limit capped at ``ledger.QUERY_GAS_MAX``. (The ledger gives
queries the zone ``""``; the harness keeps giving the contract's zone, which
is what its callers pass in the ``CallContext``.)

Determinism: each transaction runs in its own executor block with the
harness's height and time; the state answers ``next_key`` by unsigned byte
order and writes are applied in sorted key order, as the ledger does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from zonechain.node.accounts import account_key
from zonechain.node.crypto import VerifiedSignatureCache
from zonechain.node.executor import BLOCK_GAS_MAX, BlockEnvironment, Executor, InvalidBlock
from zonechain.node.ledger import QUERY_GAS_MAX
from zonechain.node.permissions.errors import GenesisPermissionsError
from zonechain.node.permissions.genesis import genesis_state_writes
from zonechain.node.permissions.governance import GOVERNANCE_ADDRESS
from zonechain.node.permissions.hooks import governance_hook, zone_policy
from zonechain.node.types.receipt import Receipt, ReceiptStatus
from zonechain.node.types.transaction import SignedTransaction
from zonechain.sdk.testing.backend import (
    BlockInfo,
    Execution,
    SortedState,
    run_on_vm_thread,
    shared_vm,
)
from zonechain.sdk.testing.errors import HarnessError, InvalidTransaction
from zonechain.vm.encoding import DecodeError, Reader
from zonechain.vm.host.frame import CallContext, Event
from zonechain.vm.runtime import Outcome, VirtualMachine
from zonechain.vm.state import ADDRESS_BYTES

GOVERNANCE_EVENT_PREFIX: Final = "governance/"
"""Topics of the events governance emits from ``GOVERNANCE_ADDRESS``."""


class ExecutorBackend:
    """Runs transactions through ``node.executor.Executor`` over a ``SortedState``."""

    def __init__(
        self, chain_id: str | None = None, *, permissions: Mapping[str, object] | None = None,
        accounts: Mapping[str, bytes] | None = None, vm: VirtualMachine | None = None,
        block_gas_max: int = BLOCK_GAS_MAX,
    ) -> None:
        """``permissions``: a genesis permissions section; ``accounts``: the public keys of
        the account names it uses. ``chain_id`` None: the chain id of the first block."""
        self.vm = vm if vm is not None else shared_vm()
        self.enforces_permissions = permissions is not None
        self.block_gas_max = block_gas_max
        self.state = SortedState(permissions_state(permissions, accounts or {})
                                 if permissions is not None else {})
        self._executor: Executor | None = None
        if chain_id is not None:
            self._executor = self._new_executor(chain_id)

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        return self.state.next_key(prefix, after)

    def items(self, prefix: bytes = b"") -> dict[bytes, bytes]:
        return self.state.items(prefix)

    def execute(self, signed: SignedTransaction, block: BlockInfo) -> Execution:
        executor = self._executor_for(block.chain_id)
        environment = BlockEnvironment(block.chain_id, block.height, block.time_ms)
        try:
            receipts, writes, _ = run_on_vm_thread(
                lambda: executor.execute_transactions(environment, [signed], self.state))
        except InvalidBlock as invalid:
            raise InvalidTransaction(f"{invalid.code}: {invalid.message}") from None
        (receipt,) = receipts
        self.state.apply(writes)
        own = {key: value for key, value in writes.items()
               if key != account_key(signed.tx.sender_address)}
        return execution_of(receipt, own)

    def query(self, context: CallContext, method: str, args: bytes, gas_limit: int) -> Execution:
        outcome = run_on_vm_thread(lambda: self.vm.query(
            method, args, context, self.state, min(gas_limit, QUERY_GAS_MAX)))
        return _query_execution(outcome)

    def snapshot(self) -> object:
        return self.state.copy()

    def revert(self, snapshot: object) -> None:
        if not isinstance(snapshot, SortedState):
            raise TypeError("not a snapshot of an ExecutorBackend")
        self.state = snapshot.copy()

    def _executor_for(self, chain_id: str) -> Executor:
        if self._executor is None:
            self._executor = self._new_executor(chain_id)
        return self._executor

    def _new_executor(self, chain_id: str) -> Executor:
        if not self.enforces_permissions:
            return Executor(self.vm, chain_id, block_gas_max=self.block_gas_max,
                            signature_cache=VerifiedSignatureCache())
        return Executor(self.vm, chain_id, block_gas_max=self.block_gas_max,
                        zone_policy=zone_policy, governance=governance_hook,
                        signature_cache=VerifiedSignatureCache())


def permissions_state(section: Mapping[str, object],
                      accounts: Mapping[str, bytes]) -> dict[bytes, bytes]:
    """The initial state of a genesis permissions section; HarnessError if it is invalid."""
    try:
        return genesis_state_writes(section, accounts=accounts)
    except GenesisPermissionsError as error:
        raise HarnessError(f"permissions: {error}") from None


def execution_of(receipt: Receipt, writes: dict[bytes, bytes | None]) -> Execution:
    """What the harness reports for one executor receipt (``writes``: applied on success)."""
    ok = receipt.status is ReceiptStatus.SUCCESS
    return Execution(
        ok=ok, gas_used=receipt.gas_used, return_data=receipt.return_data,
        events=tuple(Event(event.contract, event.topic, event.data)
                     for event in receipt.events),
        error_code=None if ok else receipt.error_code,
        error_message=None if ok else receipt.error_message,
        writes=dict(writes) if ok else {}, created=receipt.created_contract, receipt=receipt)


def _query_execution(outcome: Outcome) -> Execution:
    error = outcome.error
    return Execution(
        ok=outcome.ok, gas_used=outcome.gas_used, return_data=outcome.return_data,
        events=outcome.events, error_code=None if error is None else error.code,
        error_message=None if error is None else error.message, writes={})


def governance_event_fields(contract: bytes, topic: bytes, data: bytes
                            ) -> dict[str, object] | None:
    """The fields of a governance event (``proposal``, ``actor``, ``action``), else None.

    Governance events come from ``GOVERNANCE_ADDRESS`` with data u64 proposal id,
    20-byte actor address, string action name (node/permissions/governance.py).
    """
    if contract != GOVERNANCE_ADDRESS or not topic.startswith(GOVERNANCE_EVENT_PREFIX.encode()):
        return None
    reader = Reader(data)
    try:
        fields: dict[str, object] = {"proposal": reader.u64("proposal"),
                                     "actor": reader.fixed(ADDRESS_BYTES, "actor"),
                                     "action": reader.string("action")}
        reader.finish("governance event")
    except DecodeError:
        return None
    return fields


def proposal_id_of(return_data: bytes) -> int | None:
    """The proposal id a successful governance transaction returns (u64), else None."""
    reader = Reader(return_data)
    try:
        proposal = reader.u64("proposal id")
        reader.finish("governance result")
    except DecodeError:
        return None
    return proposal
