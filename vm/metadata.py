"""Contract metadata: the record stored under ``vm.state.contract_meta_key(address)``.

The one canonical encoding (every byte is committed by the state tree, so the
encoding is consensus; nothing else encodes or decodes it):

    offset  size  field
    0       1     format version, 0x01
    1       32    code hash (sha256 of the deployed Wasm bytes)
    33      20    deployer address (the origin of the deploy transaction)
    53      1     frozen flag: 0x00 live, 0x01 frozen (calls refused)
    54      1     zone name length n (1 ..= ZONE_NAME_BYTES_MAX)
    55      n     zone name, UTF-8

``decode`` accepts exactly what ``encode`` produces (wrong version, length,
flag value or non-UTF-8 zone raise ``ValueError``), so each record has one
encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from zonechain.vm import limits
from zonechain.vm.state import ADDRESS_BYTES, CODE_HASH_BYTES

METADATA_VERSION = 1
_FIXED_BYTES = 1 + CODE_HASH_BYTES + ADDRESS_BYTES + 1 + 1


@dataclass(frozen=True)
class ContractMetadata:
    code_hash: bytes
    zone: str
    deployer: bytes
    frozen: bool = False

    def encode(self) -> bytes:
        zone = self.zone.encode("utf-8")
        if len(self.code_hash) != CODE_HASH_BYTES:
            raise ValueError(f"code hash must be {CODE_HASH_BYTES} bytes")
        if len(self.deployer) != ADDRESS_BYTES:
            raise ValueError(f"deployer must be {ADDRESS_BYTES} bytes")
        if not 1 <= len(zone) <= limits.ZONE_NAME_BYTES_MAX:
            raise ValueError(f"zone name must be 1..{limits.ZONE_NAME_BYTES_MAX} bytes")
        return b"".join((
            bytes([METADATA_VERSION]), self.code_hash, self.deployer,
            b"\x01" if self.frozen else b"\x00", bytes([len(zone)]), zone,
        ))

    @classmethod
    def decode(cls, data: bytes) -> ContractMetadata:
        if len(data) < _FIXED_BYTES or data[0] != METADATA_VERSION:
            raise ValueError("not a version-1 contract metadata record")
        code_hash = data[1:33]
        deployer = data[33:53]
        flag, zone_length = data[53], data[54]
        if flag not in (0, 1):
            raise ValueError("frozen flag must be 0 or 1")
        if len(data) != _FIXED_BYTES + zone_length or zone_length == 0:
            raise ValueError("zone length does not match the record")
        zone = data[_FIXED_BYTES:].decode("utf-8")
        return cls(code_hash=code_hash, zone=zone, deployer=deployer, frozen=flag == 1)
