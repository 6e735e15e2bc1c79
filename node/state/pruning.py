"""Which tree nodes may be deleted once old versions fall out of the pruning window.

Every ``TreeUpdate`` lists the node keys it made stale, each with the version
since which it is stale: a node written at version ``u`` and stale since ``s``
is part of the trees of versions ``u .. s-1`` only. Keeping the newest
``window`` versions readable means keeping versions
``latest - window + 1 .. latest``; a node stale since ``s`` is needed by none
of them when ``s <= latest - window + 1``, and only then is it deleted.

After pruning, versions below ``min_readable_version`` must be refused
(``VersionPruned``), never read: their roots and some of their nodes are gone.
The tree is told through ``JellyfishMerkleTree.forget_pruned``; the store
persists ``min_readable_version`` with the deletion, in the same atomic write.

Determinism: the plan lists node keys sorted, whatever order the index was in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from zonechain.node.state.errors import TreeInputError


@dataclass(frozen=True)
class PrunePlan:
    """What to delete: the node keys and the stale-index entries that named them."""

    min_readable_version: int
    node_keys: tuple[bytes, ...]
    stale_entries: tuple[tuple[int, bytes], ...]


def prune(
    stale_index: Iterable[tuple[int, bytes]], latest_version: int, window: int
) -> PrunePlan:
    """Plan the deletion that keeps the newest ``window`` versions (``window >= 1``) readable."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise TreeInputError(f"pruning window must be an int >= 1, got {window!r}")
    if isinstance(latest_version, bool) or not isinstance(latest_version, int):
        raise TreeInputError("latest_version must be an int")
    if latest_version < 0:
        raise TreeInputError("latest_version must be >= 0")
    min_readable = max(0, latest_version - window + 1)
    entries = sorted(entry for entry in stale_index if entry[0] <= min_readable)
    return PrunePlan(
        min_readable_version=min_readable,
        node_keys=tuple(sorted({node_key for _, node_key in entries})),
        stale_entries=tuple(entries),
    )
