"""Static checks over the whole repository: undefined names, unused imports, likely bugs (ruff.toml)."""

from __future__ import annotations

import subprocess
import sys

from tests.localapi import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_what_ships():
    """handler/ (the Lambda asset) and infra/ (the stack) type-check under mypy --strict (mypy.ini)."""
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "mypy.ini")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
