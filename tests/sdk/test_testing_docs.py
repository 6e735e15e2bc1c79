"""docs/CONTRACTS.md's test example runs as written, with the fixtures the pytest11 plugin adds.

The example is written to a scratch folder and run by a separate pytest
process from the repository root, exactly as an author would run it: the
``chain`` and ``accounts`` fixtures must come from the installed entry point
(nothing in the scratch folder provides them), and warnings are errors.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
GUIDE = REPOSITORY / "docs" / "CONTRACTS.md"
PLUGIN = "zonechain.sdk.pytest_plugin"


def guide_example_code() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Testing contracts", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the Testing contracts section holds one runnable example"
    return str(blocks[0])


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    declared = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    assert declared["project"]["entry-points"]["pytest11"] == {"zonechain": PLUGIN}
    # pytest walks every distribution's entry points (a stale zonechain.egg-info
    # in the checkout may shadow the installed metadata for entry_points())
    installed = [point.value for dist in importlib.metadata.distributions()
                 for point in dist.entry_points if point.group == "pytest11"]
    assert PLUGIN in installed, "reinstall: pip install -e ."


def test_the_guide_example_passes_under_pytest(tmp_path: Path) -> None:
    example = tmp_path / "test_guide_example.py"
    example.write_text(guide_example_code(), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(example)],
        cwd=REPOSITORY, capture_output=True, text=True, check=False, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "3 passed" in completed.stdout
