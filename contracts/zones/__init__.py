"""The zone contracts (one folder each: NAME.zig + NAME.abi.json), shipped as package data."""
