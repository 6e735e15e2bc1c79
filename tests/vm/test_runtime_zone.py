"""A contract sees the zone it lives in, whatever zone the caller names."""

from __future__ import annotations

from tests.vm.runtime_support import GAS, context, imports, wasm
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

ZONE_ECHO_WAT = f"""
(module
  {imports("zone", "return_data")}
  (memory (export "memory") 1)
  (func (export "where")
    (call $return_data (i32.const 0) (call $zone (i32.const 0) (i32.const 64)))))
"""


def test_calls_and_queries_see_the_deployed_zone_not_the_named_one() -> None:
    vm = VirtualMachine()
    state = DictState()
    deployed = vm.deploy(wasm(ZONE_ECHO_WAT), b"", context(zone="trade-finance"), state, GAS)
    assert deployed.ok, deployed.error
    state.apply(deployed.writes)

    named_elsewhere = context(zone="taxation")
    called = vm.call("where", b"", named_elsewhere, state, GAS)
    queried = vm.query("where", b"", context(zone=""), state, GAS)

    assert called.ok and queried.ok
    assert called.return_data == b"trade-finance"
    assert queried.return_data == b"trade-finance"
