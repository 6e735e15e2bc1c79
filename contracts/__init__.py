"""zonechain.contracts — contract toolchain, author library and the zone contracts."""
