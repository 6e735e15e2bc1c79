"""zonechain.vm.wasm — a strict WebAssembly binary reader and a writer.

``reader`` decodes the module structure, ``code`` walks instruction streams
(structure, indices, operand-stack height), ``writer`` encodes sections and
integers, ``errors`` holds one DeployError class per gatekeeper rule. Nothing
here depends on wasmtime: it is the deploy-time view of the bytes that Python
cannot get from the engine.
"""
