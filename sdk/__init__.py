"""zonechain.sdk — the Python client for businesses and contract authors."""
