"""zonechain.proto — the wire types.

The ``*.proto`` files here are the source; ``*_pb2.py`` modules are generated
from them at build time by setup.py and are never committed or hand-edited.
Nothing hashed or signed uses protobuf bytes: see docs/PROTOCOL.md for the
canonical encoding.
"""
