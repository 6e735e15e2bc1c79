"""zonechain.node.state — the authenticated state tree (a Jellyfish Merkle tree).

Modules, by concept:

- ``proof``     hashing rules, the proof format and ``verify_proof`` (self-contained;
                the SDK imports it alone)
- ``node``      tree nodes, node keys, their encodings
- ``tree``      ``JellyfishMerkleTree``: batch updates, roots, proofs per version
- ``pruning``   which stale nodes to delete for a pruning window
- ``memory``    ``MemoryNodeStore``, a dict-backed node store (tests, harness)
- ``reference`` the from-scratch definition the fast tree is tested against
- ``errors``    the error tree

This package file imports nothing, so importing ``proof`` stays light.
"""
