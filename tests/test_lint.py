"""Static checks over the whole repository: undefined names, unused imports, likely bugs (ruff.toml)."""

from __future__ import annotations

import subprocess
import sys

from tests.localapi import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
