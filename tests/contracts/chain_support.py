"""A minimal in-process chain for contract tests: VirtualMachine over a DictState.

Calls are built and decoded through the contract's ABI, so every test also
exercises zonechain.contracts.abi. Successful calls apply their writes, as a
block would; failed calls leave state untouched.
"""

from __future__ import annotations

from typing import Any

from zonechain.contracts.toolchain import BuildResult
from zonechain.vm.runtime import CallContext, Outcome, VirtualMachine
from zonechain.vm.state import DictState

GAS = 50_000_000
CONTRACT = b"\xc1" * 20
ISSUER = b"\x01" * 20
ALICE = b"\x0a" * 20
BOB = b"\x0b" * 20
CAROL = b"\x0c" * 20


class Chain:
    def __init__(self, build: BuildResult, vm: VirtualMachine | None = None,
                 state: DictState | None = None, address: bytes = CONTRACT) -> None:
        self.build = build
        self.abi = build.abi
        self.vm = vm or VirtualMachine()
        self.state = state if state is not None else DictState()
        self.address = address
        self.height = 1

    def beside(self, build: BuildResult, address: bytes) -> Chain:
        """Another contract in the same VM and state (for cross-contract calls)."""
        return Chain(build, self.vm, self.state, address)

    def context(self, sender: bytes) -> CallContext:
        return CallContext(caller=sender, origin=sender, contract=self.address, zone="trade",
                           block_height=self.height, block_time_ms=1_700_000_000_000,
                           tx_hash=bytes([self.height % 256]) * 32)

    def deploy(self, *args: object, sender: bytes = ISSUER) -> Outcome:
        has_init = "init" in self.abi.method_names
        init_args = self.abi.method("init").encode_args(*args) if has_init else b""
        return self.deploy_raw(init_args, sender=sender)

    def deploy_raw(self, init_args: bytes, sender: bytes = ISSUER) -> Outcome:
        outcome = self.vm.deploy(self.build.code, init_args, self.context(sender), self.state,
                                 GAS)
        return self._commit(outcome)

    def call(self, method: str, *args: object, sender: bytes = ISSUER) -> Outcome:
        data = self.abi.method(method).encode_args(*args)
        return self.call_raw(method, data, sender=sender)

    def call_raw(self, method: str, data: bytes, sender: bytes = ISSUER) -> Outcome:
        outcome = self.vm.call(method, data, self.context(sender), self.state, GAS)
        return self._commit(outcome)

    def query(self, method: str, *args: object, sender: bytes = ISSUER) -> Any:
        data = self.abi.method(method).encode_args(*args)
        outcome = self.vm.query(method, data, self.context(sender), self.state, GAS)
        assert outcome.ok, outcome.error
        return self.abi.method(method).decode_result(outcome.return_data)

    def query_raw(self, method: str, data: bytes) -> Outcome:
        return self.vm.query(method, data, self.context(ISSUER), self.state, GAS)

    def events(self, outcome: Outcome) -> list[tuple[str, dict[str, Any]]]:
        return [(event.topic.decode(), self.abi.event(event.topic.decode()).decode(event.data))
                for event in outcome.events]

    def _commit(self, outcome: Outcome) -> Outcome:
        if outcome.ok:
            self.state.apply(outcome.writes)
        self.height += 1
        return outcome


def abort_message(outcome: Outcome) -> str:
    assert not outcome.ok, "the call was expected to fail"
    assert outcome.error is not None
    return outcome.error.message
