"""`make pulumi-cli` (tests/engine/build-cli): two builds at once never write one folder."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.localapi import ROOT

BUILD = ROOT / "tests" / "engine" / "build-cli"


@pytest.mark.skipif(not shutil.which("flock"), reason="needs flock (util-linux)")
def test_a_second_build_waits_for_the_first_and_takes_its_cli(tmp_path):
    folder = tmp_path / "pulumi-v3.276.0"
    (folder / "bin").mkdir(parents=True)
    fake = "#!/bin/sh\necho v3.276.0\n"
    # The first build: holds the lock until the second says it waits, then leaves its CLI and lets go.
    first = subprocess.Popen(
        ["flock", str(folder / ".build-lock"), "sh", "-c",
         f"echo held; while [ ! -s {tmp_path}/second.err ]; do sleep 0.05; done; "
         f"printf '{fake}' > {folder}/bin/pulumi; chmod +x {folder}/bin/pulumi; "
         f"touch {folder}/bin/pulumi-language-python-exec; "
         f"printf '#!/bin/sh\\n' > {folder}/bin/pulumi-language-yaml; chmod +x {folder}/bin/pulumi-language-yaml"],
        stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None and first.stdout.readline() == "held\n"  # it holds the lock now
    env = {**os.environ, "ROUTE_COUNTER_CACHE": str(tmp_path), "PULUMI_CLI_BUILD": "1", "PATH": "/usr/bin:/bin"}
    with open(tmp_path / "second.err", "w") as err:
        second = subprocess.run([str(BUILD)], env=env, stdout=subprocess.PIPE, stderr=err, text=True, timeout=60)
    assert first.wait(timeout=60) == 0
    assert second.returncode == 0 and second.stdout.splitlines()[-1] == str(folder / "bin" / "pulumi")
    said = (tmp_path / "second.err").read_text()
    assert "another build" in said and "building" not in said  # it waited, then built nothing
