"""pytest fixtures for contract tests, registered by installing zonechain (entry point pytest11).

Fixtures:
- ``chain``: a fresh ``zonechain.sdk.testing.Chain`` (chain id ``"test"``,
  zone ``"default"``) for each test; nothing is shared between tests except
  compiled code and contract builds, which depend only on their bytes.
- ``accounts``: named accounts of that chain: ``accounts.alice`` is
  ``chain.account("alice")``.

Guarantees: loading the plugin imports nothing beyond pytest; the harness is
imported when a test first asks for a fixture, so a project that never uses
these fixtures pays nothing and sees no warnings from them. A test module or
conftest that defines its own ``chain`` or ``accounts`` fixture overrides these
(pytest's normal rule: the nearer definition wins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from zonechain.sdk.testing import Accounts, Chain


@pytest.fixture
def chain() -> Chain:
    """A fresh in-process chain for this test."""
    from zonechain.sdk.testing import Chain

    return Chain()


@pytest.fixture
def accounts(chain: Chain) -> Accounts:
    """Named accounts of ``chain``: ``accounts.alice``, ``accounts["bob"]``."""
    from zonechain.sdk.testing import Accounts

    return Accounts(chain)
