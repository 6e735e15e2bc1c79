"""The author library's sources: zonechain.zig (Zig) and zonechain.h (C).

They are data for the toolchain (zonechain.contracts.toolchain), not Python;
this file only makes them ship with the package.
"""
