"""zonechain.vm — the deterministic, metered WebAssembly virtual machine.

Every validator runs a contract call here and must reach the same result, the
same gas and the same state changes, on any machine. Code is checked by
`gatekeeper` before it is compiled or stored, instrumented for deterministic
call depth, compiled once and cached (`cache`), and run with wasmtime fuel plus
the host-call schedule of `gas` as its meter.
"""
