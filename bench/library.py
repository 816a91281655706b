"""route-counter as an installed library: the wheel's size, the code asset an installed copy builds against
a checkout's (they must be the same bytes), and what importing the components costs a program. For
`make bench`; the engine tests reuse the wheel and venv helpers. No side effects at import."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

# Run inside a python: the code asset's files hashed in order, as Pulumi zips them.
ASSET_DIGEST = """
import hashlib, io, json, sys, zipfile
from route_counter.infra import asset
files = asset.asset_files()
digest = hashlib.sha256()
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    for name, path in files.items():
        digest.update(name.encode() + b"\\0" + path.read_bytes())
        archive.write(path, name)
print(json.dumps({"digest": digest.hexdigest(), "files": len(files), "zipped": len(buffer.getvalue()),
                  "where": asset.PACKAGE_DIR.as_posix(), "path": sys.path}))
"""
IMPORT_COMPONENTS = "import route_counter; route_counter.RouteCounter; route_counter.ApiMeter"
IMPORT_BASELINE = "import pulumi, pulumi_aws, pulumi_random"  # what any program of these components pays anyway


def build_wheel(dest: Path) -> Path:
    """The route-counter wheel, built from this checkout with the pinned hatchling (no download)."""
    subprocess.run([str(VENV_PYTHON), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest),
                    str(ROOT)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = dest.glob("route_counter-*.whl")
    return wheel


def venv_with_wheel(venv: Path, wheel: Path) -> Path:
    """A fresh venv outside the repository with the wheel installed; its dependencies come from the
    repository's venv through a .pth file (installing pulumi-aws again would take minutes). No checkout is
    on its sys.path. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"

    def purelib(interpreter: Path) -> str:
        return subprocess.run([str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()

    Path(purelib(python), "dependencies.pth").write_text(purelib(VENV_PYTHON) + "\n")
    subprocess.run([str(VENV_PYTHON), "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    return python


def asset_digest(python: Path, cwd: Path) -> dict[str, Any]:
    done = subprocess.run([str(python), "-c", ASSET_DIGEST], cwd=cwd, capture_output=True, text=True, check=True)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _import_seconds(python: Path, code: str, cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        done = subprocess.run([str(python), "-X", "importtime", "-c", code], cwd=cwd, capture_output=True, text=True,
                              check=True)
        # -X importtime: "import time: self [us] | cumulative | name"; the top-level imports' cumulative sum.
        total = sum(int(line.split("|")[1]) for line in done.stderr.splitlines()
                    if line.startswith("import time:") and "|" in line and not line.split("|")[2].startswith("  ")
                    and line.split("|")[1].strip().isdigit())
        times.append(total / 1e6)
    return statistics.median(times)


def numbers(runs: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        wheel = build_wheel(tmp / "dist")
        python = venv_with_wheel(tmp / "venv", wheel)
        installed = asset_digest(python, tmp)
        checkout = asset_digest(VENV_PYTHON, ROOT)
        ours = _import_seconds(python, IMPORT_COMPONENTS, tmp, runs)
        base = _import_seconds(python, IMPORT_BASELINE, tmp, runs)
        return {"wheel_bytes": wheel.stat().st_size, "installed": installed, "checkout": checkout,
                "same_asset": installed["digest"] == checkout["digest"], "import": ours, "baseline": base}
