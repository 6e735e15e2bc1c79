"""`zonechain bench`: the operator's end-to-end benchmark.

Workloads (``workloads.py``) are generators of signed transactions from
deterministic keys; a load generator (``load.py``) sends them open-loop at a
target rate or closed-loop at the maximum to a target (``targets.py``: the
in-process single-node ledger; ``network.py``: a devnet of node processes or
running endpoints, through the SDK client); the run
(``run.py``) records when each transaction was sent and committed,
``benchmark.py`` puts the runs, limits and comparison together, and
``report.py`` turns that into committed TPS, latency percentiles, block
interval, gas/s, resource use and a state-root check, as JSON + Markdown (+
PNG charts when matplotlib is installed). ``limits.py`` measures the
physical limits of the machine on the spot and ``evm_peer.py`` runs the same
token transfer on py-evm (optional extra ``bench``).

Nothing here is consensus code: the benchmark reads the wall clock freely.
"""
