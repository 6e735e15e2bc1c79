"""zonechain.node — ledger types, storage, state tree, mempool, consensus, network, CLI."""
