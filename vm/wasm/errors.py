"""The deploy-time error classes, one per gatekeeper rule.

Every class is a ``zonechain.vm.errors.DeployError`` whose ``code`` names the
rule broken; the code is stable and documented (it lands in a deploy receipt).
Messages say what was wrong and where (section, function index, byte offset)
and never hold anything machine-dependent.

    DeployError
    ├── InvalidWasm              "invalid_wasm"      malformed binary
    │   └── Truncated            "truncated"         the bytes end too early
    ├── ModuleTooLarge           "module_too_large"
    ├── ForbiddenImport          "forbidden_import"
    ├── ImportSignatureMismatch  "import_signature_mismatch"
    ├── ForbiddenFeature         "forbidden_feature" (message names the feature)
    ├── LimitExceeded            "limit_exceeded"    (message names the limit)
    ├── MissingExport            "missing_export"
    ├── ForbiddenExport          "forbidden_export"
    ├── InvalidMethodSignature   "invalid_method_signature"
    ├── DuplicateExport          "duplicate_export"
    └── StartFunctionForbidden   "start_function_forbidden"
"""

from __future__ import annotations

from zonechain.vm.errors import DeployError


class InvalidWasm(DeployError):
    """The bytes are not a well-formed WebAssembly module."""

    code = "invalid_wasm"


class Truncated(InvalidWasm):
    """The bytes end in the middle of a section, a vector or an instruction."""

    code = "truncated"


class ModuleTooLarge(DeployError):
    code = "module_too_large"


class ForbiddenImport(DeployError):
    """An import from a module other than the host module, of a non-function kind,
    or of a name the host interface does not define."""

    code = "forbidden_import"


class ImportSignatureMismatch(DeployError):
    code = "import_signature_mismatch"


class ForbiddenFeature(DeployError):
    """A WebAssembly feature outside the deterministic subset the VM admits."""

    code = "forbidden_feature"

    def __init__(self, feature: str, where: str) -> None:
        super().__init__(f"{feature} is not allowed ({where})")
        self.feature = feature


class LimitExceeded(DeployError):
    """A count above its bound in zonechain.vm.limits."""

    code = "limit_exceeded"

    def __init__(self, limit_name: str, value: int, maximum: int, where: str = "") -> None:
        suffix = f" ({where})" if where else ""
        super().__init__(f"{limit_name}: {value} exceeds the maximum {maximum}{suffix}")
        self.limit_name = limit_name


class MissingExport(DeployError):
    code = "missing_export"


class ForbiddenExport(DeployError):
    code = "forbidden_export"


class InvalidMethodSignature(DeployError):
    code = "invalid_method_signature"


class DuplicateExport(DeployError):
    code = "duplicate_export"


class StartFunctionForbidden(DeployError):
    code = "start_function_forbidden"
