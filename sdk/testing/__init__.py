"""An in-process chain for testing contracts: no network, no node, real VM and real addresses.

    from zonechain.sdk.testing import Chain, ContractFailed, assert_event

    chain = Chain(chain_id="test", zone="trade-finance")
    alice, bob = chain.account("alice"), chain.account("bob")  # keys derived from the names
    token = chain.deploy(alice, "contracts/zones/token", "Euro Deposit", "EURD", 2)
    token.call(alice).mint(alice, 1_000)                 # a signed tx -> CallResult
    result = token.call(alice).transfer(bob, 300)        # accounts pass as addresses
    assert result.gas_used > 0
    assert_event(result, "transfer", from_=alice, to=bob, amount=300)
    assert token.query().balance_of(bob) == 300          # a query -> the decoded value
    with chain.expect_error(code="aborted", message="insufficient balance"):
        token.call(bob).transfer(alice, 301)             # raises ContractFailed, caught
    snap = chain.snapshot(); ...; chain.revert(snap)     # exact restore
    chain.advance(blocks=10, ms=60_000)                  # height and time the contract sees

API (stable; later additions only add):
- ``Chain(chain_id="test", zone="default", *, gas_limit=DEFAULT_GAS_LIMIT,
  height=1, time_ms=GENESIS_TIME_MS, backend=None, permissions=None)``;
  ``backend``: None or ``"executor"`` (the ledger executor), ``"vm"`` (the VM
  directly) or a ``Backend``; ``permissions``: a genesis permissions section
  (node/permissions/genesis.py; account names there are this harness's
  accounts) or ``"template"`` (the pilot zones): zone policies are enforced.
- ``chain.account(name) -> Account`` (a ``bytes`` subclass: its 20-byte
  address, with ``.name``, ``.key``, ``.public_key``); ``chain.nonce(account)``;
  module-level ``account(name)`` gives the same account without a chain.
- ``chain.deploy(deployer, source, *init_args, zone=None, gas_limit=None,
  init_kwargs=None, init_data=None) -> ContractHandle``; ``source`` is a
  contract folder or source file (built once per process), a ``.wasm`` file
  with its ``.abi.json`` beside it, a ``BuildResult``, or ``(wasm bytes, abi)``.
  The address is ``contract_address(deployer, nonce)``, as on the chain.
- ``handle.call(sender, *, gas_limit=None, check=True).<method>(*args, **kwargs)
  -> CallResult`` (``.value`` decoded, ``.gas_used``, ``.events``...);
  raises ``ContractFailed(code, message, gas_used, receipt)`` unless ``check=False``.
- ``handle.query(sender=None, *, gas_limit=None).<method>(...) -> value``;
  raises ``ContractFailed`` on failure.
- ``handle.address``, ``.abi``, ``.name``, ``.zone``, ``.deployer``,
  ``.deployment`` (the deploy's CallResult),
  ``.events(name=None, history=False)``, ``.storage()``.
- Low level (raw argument bytes, receipts returned, never raised):
  ``chain.call(sender, contract, method, data=b"", gas_limit=None)``,
  ``chain.query(contract, method, data=b"", sender=None, gas_limit=None)``,
  ``chain.deploy_raw(deployer, code, init_data=b"", zone=None, gas_limit=None,
  abi=None)``, ``chain.contract(address, abi=None) -> ContractHandle``.
- Blocks: ``chain.height``, ``chain.time_ms``, ``chain.block``,
  ``chain.advance(blocks=1, ms=None)``; transactions run in the current block.
- Governance (with ``permissions``): ``chain.propose(sender, action,
  expiry_height=None, check=True)``, ``chain.approve(sender, proposal_id,
  check=True)`` -> ``CallResult`` (``.value``: the proposal id; events
  ``governance/proposed``... with fields ``proposal``, ``actor``, ``action``).
- History: ``chain.last``, ``chain.results``, ``chain.events(contract=None,
  name=None, history=False)`` (latest transaction unless ``history=True``).
- State: ``chain.storage(contract)``, ``chain.items(prefix)``, ``chain.get(key)``;
  ``chain.snapshot()`` / ``chain.revert(snapshot)``.
- Assertions: ``chain.expect_error(code=None, message=None)`` (str: substring,
  ``re.compile(...)``: regex), module ``expect_error``; ``assert_event(result |
  events, name, fields=None, contract=None, **values)``, ``chain.assert_event``.
- pytest: installing zonechain registers fixtures ``chain`` (a fresh Chain)
  and ``accounts`` (``accounts.alice`` -> ``chain.account("alice")``).

Errors: ``ContractFailed`` (the contract failed: a receipt error on a real
chain), ``AbiError`` (a value that does not fit the ABI, raised before
sending; or a typed call's result that does not decode, raised after the
transaction was applied: the contract does not match its ABI),
``HarnessError`` and its ``ContractSourceError`` / ``InvalidTransaction``
(the test itself is wrong).

Execution goes through ``backend.Backend``; ``ExecutorBackend`` (the default)
runs each transaction through the ledger executor (node/executor.py), so
receipts, nonce and validity rules and zone-policy refusals are the chain's;
``VmBackend`` (``backend="vm"``) runs the VM directly with the executor's nonce
and address rules. A policy refusal raises ``ContractFailed`` with code
``not_permitted`` (gas 0) and a message naming the rule. Guarantees of each
part are in its module: chain.py, backend.py, executor_backend.py,
artifacts.py, assertions.py.
"""

from __future__ import annotations

from zonechain.sdk.testing.artifacts import Artifact, ContractSource, load_contract
from zonechain.sdk.testing.assertions import ExpectedError, assert_event, expect_error
from zonechain.sdk.testing.backend import Backend, BlockInfo, Execution, VmBackend
from zonechain.sdk.testing.chain import (
    BLOCK_INTERVAL_MS,
    DEFAULT_GAS_LIMIT,
    GENESIS_TIME_MS,
    PERMISSIONS_TEMPLATE,
    Account,
    Accounts,
    CallProxy,
    Chain,
    ContractHandle,
    QueryProxy,
    Snapshot,
    account,
)
from zonechain.sdk.testing.errors import (
    ContractFailed,
    ContractSourceError,
    HarnessError,
    InvalidTransaction,
)
from zonechain.sdk.testing.executor_backend import ExecutorBackend
from zonechain.sdk.testing.results import CallResult, ContractEvent

__all__ = [
    "BLOCK_INTERVAL_MS",
    "DEFAULT_GAS_LIMIT",
    "GENESIS_TIME_MS",
    "PERMISSIONS_TEMPLATE",
    "Account",
    "Accounts",
    "Artifact",
    "Backend",
    "BlockInfo",
    "CallProxy",
    "CallResult",
    "Chain",
    "ContractEvent",
    "ContractFailed",
    "ContractHandle",
    "ContractSource",
    "ContractSourceError",
    "Execution",
    "ExecutorBackend",
    "ExpectedError",
    "HarnessError",
    "InvalidTransaction",
    "QueryProxy",
    "Snapshot",
    "VmBackend",
    "account",
    "assert_event",
    "expect_error",
    "load_contract",
]
