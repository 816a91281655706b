"""A stand-in for Pulumi's Python language host (`pulumi-language-python`), for the engine tests only.

The official host is a Go program the module proxy does not serve. This one answers the gRPC service the
`pulumi` package on PyPI ships (`pulumi.runtime.proto.language_pb2_grpc.LanguageRuntimeServicer`) with
what the CLI asks of a Python program: plugin info, the handshake, the packages the program needs (read
from the `pulumi-plugin.json` each installed provider SDK carries, as the real host does) and `Run`, which
executes the program through the SDK's own `pulumi-language-python-exec` script, and dependency
installation as the real host's pip toolchain does it (`pulumi new`, `pulumi install`, a missing venv at
`preview`), and `RunPlugin`, which runs a plugin written in Python from its folder (route-counter's own
package, provider/PulumiPlugin.yaml). Left out: toolchains other than a virtualenv with pip, `pulumi about`,
`pulumi convert`/`package` code generation, debugging, and plugins run as a buildable package.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.engine import serving  # noqa: E402

serving.lean_proto()
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2  # noqa: E402

VERSION = "3.276.0"
# pulumi-language-python-exec exits with this code after it has shown the user an error already.
SHOWN_TO_USER = 32


def exec_script() -> str:
    """The SDK's own runner, from the Go module cache the CLI was built from (or PULUMI_PYTHON_EXEC)."""
    given = os.environ.get("PULUMI_PYTHON_EXEC")
    if given:
        return given
    found = shutil.which("pulumi-language-python-exec")
    if found:
        return found
    raise RuntimeError("pulumi-language-python-exec not found: set PULUMI_PYTHON_EXEC")


def venv_of(info: language_pb2.ProgramInfo | None, pwd: str) -> Path:
    """The program's virtualenv: the runtime option `virtualenv`, relative to the project's root."""
    root = Path(info.root_directory if info and info.root_directory else pwd)
    options = dict(info.options.items()) if info and info.HasField("options") else {}
    virtualenv = options.get("virtualenv") or "venv"
    return root / str(virtualenv)


def python_of(venv: Path) -> str:
    python = venv / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"the 'virtualenv' option in Pulumi.yaml is set to {venv}, but it holds no bin/python: "
                           "remove that folder and run again, and it is made (`pulumi install`)")
    return str(python)


async def install(venv: Path, directory: str) -> list[tuple[bytes, bytes]]:
    """What the real host's pip toolchain does (pulumi/pulumi sdk/python/toolchain/pip.go,
    InstallDependencies): `python3 -m venv` (PULUMI_PYTHON_CMD if set), then in it `pip install --upgrade
    pip setuptools wheel` and `pip install -r requirements.txt`, in the program's folder. Each step's output."""
    python = str(venv / "bin" / "python")
    steps = [[shutil.which(os.environ.get("PULUMI_PYTHON_CMD", "python3")) or "python3", "-m", "venv", str(venv)],
             [python, "-m", "pip", "install", "--upgrade", "pip", "setuptools", "wheel"],
             [python, "-m", "pip", "install", "-r", "requirements.txt"]]
    outputs = []
    for step in steps:
        done = await asyncio.create_subprocess_exec(*step, cwd=directory, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        outputs.append(await done.communicate())
        if done.returncode:
            raise RuntimeError(f"{' '.join(step)} failed ({done.returncode}): {outputs[-1][1].decode()[-2000:]}")
    return outputs


async def ensure_venv(venv: Path, directory: str, context: Any) -> None:
    """The real toolchain's EnsureVenv (pip.go), which `preview` and `up` reach through the required plugins
    (pulumi/pulumi#16317): a virtualenv that is missing or an empty folder is made and filled first."""
    if (venv / "bin" / "python").exists() or (venv.is_dir() and any(venv.iterdir())):
        return
    print(f"creating virtual environment {venv} and installing requirements.txt ...", file=sys.stderr, flush=True)
    try:
        await install(venv, directory)
    except RuntimeError as exc:  # the CLI shows the reason, not this host's traceback
        await context.abort(grpc.StatusCode.UNKNOWN, str(exc))


def provider_packages(venv: Path) -> list[plugin_pb2.PackageDependency]:
    """Each installed Pulumi provider SDK names its plugin and version in pulumi-plugin.json."""
    packages = []
    for manifest in sorted(venv.glob("lib/python*/site-packages/*/pulumi-plugin.json")):
        data = json.loads(manifest.read_text())
        if data.get("resource"):
            packages.append(plugin_pb2.PackageDependency(
                kind="resource", name=data["name"], version=data.get("version", ""),
                server=data.get("server", "")))
    return packages


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine: str) -> None:
        self.engine = engine

    async def Handshake(self, request, context):
        return language_pb2.LanguageHandshakeResponse()

    async def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSION)

    async def GetRequiredPackages(self, request, context):
        venv = venv_of(request.info, request.info.program_directory)
        await ensure_venv(venv, request.info.root_directory or request.info.program_directory, context)
        return language_pb2.GetRequiredPackagesResponse(packages=provider_packages(venv))

    async def GetRequiredPlugins(self, request, context):
        venv = venv_of(request.info, request.pwd or request.info.program_directory)
        await ensure_venv(venv, request.info.root_directory or request.pwd or request.info.program_directory, context)
        plugins = [plugin_pb2.PluginDependency(name=p.name, kind=p.kind, version=p.version, server=p.server)
                   for p in provider_packages(venv)]
        return language_pb2.GetRequiredPluginsResponse(plugins=plugins)

    async def InstallDependencies(self, request, context):
        """`pulumi new` and `pulumi install`: see install()."""
        info = request.info if request.HasField("info") else None
        try:
            outputs = await install(venv_of(info, request.directory), request.directory)
        except RuntimeError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        for out, err in outputs:
            yield language_pb2.InstallDependenciesResponse(stdout=out, stderr=err)

    async def RunPlugin(self, request, context):
        """The real host's RunPlugin (sdk/python/cmd/pulumi-language-python/main.go): a plugin folder with a
        `__main__.py` runs as `python FOLDER ARGS...` in the folder's virtualenv (its PulumiPlugin.yaml's
        `virtualenv`, default `venv`), in `pwd`, with `env` added. Its stdout and stderr stream back as they
        come (the CLI reads the port from stdout); a non-zero exit code ends the stream, a clean exit ends it
        empty. The CLI stops the plugin by cancelling the call: the process is ended then."""
        info = request.info if request.HasField("info") else None
        folder = (info.program_directory or info.root_directory) if info else request.pwd
        root = (info.root_directory or folder) if info else folder
        if not (Path(root) / "__main__.py").is_file():
            await context.abort(grpc.StatusCode.UNKNOWN, "plugin is not runnable: this stand-in runs a plugin "
                                                         "folder with a __main__.py only")
        try:
            python = python_of(venv_of(info, root))
        except RuntimeError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        env = {**os.environ, **dict(entry.split("=", 1) for entry in request.env if "=" in entry)}
        # A plain child with a reader thread per stream: asyncio's child watcher would warn on the CLI's
        # screen when the host's loop closes before a cancelled plugin has exited.
        proc = subprocess.Popen([python, folder, *request.args], cwd=request.pwd or folder, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[language_pb2.RunPluginResponse | None] = asyncio.Queue()

        def deliver(item: language_pb2.RunPluginResponse | None) -> None:
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, item)
            except RuntimeError:  # the host's loop has closed: the CLI ended the call, no one is reading
                pass

        def pump(stream: Any, field: str) -> None:
            """Forward one stream; a traceback from here would reach the CLI's screen as a diagnostic."""
            try:
                for chunk in iter(lambda: stream.read1(65536), b""):
                    deliver(language_pb2.RunPluginResponse(**{field: chunk}))
            except (ValueError, OSError):  # the pipe was closed under the read
                pass
            finally:
                deliver(None)

        for stream, field in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            threading.Thread(target=pump, args=(stream, field), daemon=True).start()
        try:
            streams = 2
            while streams:
                chunk = await chunks.get()
                if chunk is None:
                    streams -= 1
                else:
                    yield chunk
            code = await asyncio.to_thread(proc.wait)
            if code:
                yield language_pb2.RunPluginResponse(exitcode=code)
        finally:
            if proc.poll() is None:  # the CLI is done with the plugin
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    async def GetProgramDependencies(self, request, context):
        return language_pb2.GetProgramDependenciesResponse()

    async def RuntimeOptionsPrompts(self, request, context):
        return language_pb2.RuntimeOptionsResponse()

    async def About(self, request, context):
        return language_pb2.AboutResponse(executable=sys.executable, version=sys.version.split()[0])

    async def Run(self, request, context):
        info = request.info if request.HasField("info") else None
        root = info.root_directory if info and info.root_directory else request.pwd
        program = (info.program_directory if info and info.program_directory else request.program) or request.pwd
        try:
            python = python_of(venv_of(info, root))
        except RuntimeError as exc:
            return language_pb2.RunResponse(error=str(exc))
        env = {
            **os.environ,
            "PULUMI_CONFIG": json.dumps(dict(request.config.items())),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(request.configSecretKeys)),
            "PULUMI_PROJECT": request.project, "PULUMI_STACK": request.stack,
            "PULUMI_ORGANIZATION": request.organization,
            "PULUMI_DRY_RUN": "true" if request.dryRun else "false",
            "PULUMI_PARALLEL": str(request.parallel),
            "PULUMI_MONITOR": request.monitor_address, "PULUMI_ENGINE": self.engine,
            "PULUMI_ROOT_DIRECTORY": root,
        }
        args = [python, "-u", exec_script(),
                "--monitor", request.monitor_address, "--engine", self.engine,
                "--project", request.project, "--stack", request.stack, "--pwd", request.pwd,
                "--dry_run", "true" if request.dryRun else "false", "--parallel", str(request.parallel),
                "--organization", request.organization, "--root_directory", root,
                program, *request.args]
        # The program's output goes to this host's stdout and stderr, which the CLI shows.
        proc = await asyncio.create_subprocess_exec(*args, env=env, cwd=request.pwd)
        code = await proc.wait()
        if code == 0:
            return language_pb2.RunResponse()
        if code == SHOWN_TO_USER:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    async def Cancel(self, request, context):
        return empty_pb2.Empty()


def main(argv: list[str]) -> int:
    positional = [a for a in argv if not a.startswith("-")]
    if not positional:
        print("usage: pulumi-language-python [flags] ENGINE_ADDRESS", file=sys.stderr)
        return 2
    engine = positional[-1]
    return serving.run(lambda server: language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(engine), server))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
