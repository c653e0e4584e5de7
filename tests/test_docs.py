"""The documentation: the MkDocs site builds in strict mode (no broken link, anchor or nav entry), and the README
stays a short front door with the two set-up commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_MAX_BYTES = 10_000


def test_mkdocs_strict_build(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    # mkdocs is a test extra (pyproject.toml), installed by `make test`; a missing install fails here too
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert (site / "index.html").is_file()


def test_readme_is_a_short_front_door() -> None:
    readme = ROOT / "README.md"
    size = readme.stat().st_size
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes (limit {README_MAX_BYTES}): move detail to docs/"
    text = readme.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
