"""How a plugin process serves gRPC to the Pulumi CLI: print the port, then serve until the CLI stops it."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Callable

import grpc

MAX_MESSAGE = 400 * 1024 * 1024  # the CLI's own limit for plugin messages (a large program's state)


def lean_proto() -> None:
    """Let `pulumi.runtime.proto` (the SDK's generated gRPC modules) import without the SDK's own package
    inits, which load the whole SDK: about 60 ms of CPU in each of the three or four stand-in processes
    the CLI starts a command. The stand-ins need only the generated modules; `real_sdk()` undoes this
    where the SDK itself is wanted."""
    import importlib.util
    import types

    spec = importlib.util.find_spec("pulumi")
    if spec is None or not spec.submodule_search_locations or "pulumi" in sys.modules:
        return
    root = list(spec.submodule_search_locations)[0]
    for name, path in (("pulumi", root), ("pulumi.runtime", f"{root}/runtime")):
        module = types.ModuleType(name)
        module.__path__ = [path]
        module.__lean__ = True  # type: ignore[attr-defined]
        sys.modules[name] = module


def real_sdk() -> None:
    """Drop lean_proto's stand-in packages, so `import pulumi` (pulumi_aws, say) runs the SDK's inits."""
    for name in ("pulumi.runtime", "pulumi"):
        if getattr(sys.modules.get(name), "__lean__", False):
            del sys.modules[name]


def run(add_servicer: Callable[[grpc.aio.Server], None]) -> int:
    """Serve on a free local port, printed as the first line of stdout (the CLI reads it). The CLI ends a
    plugin with SIGINT, then SIGTERM: either stops the server inside its loop, so it exits quietly."""

    async def serve() -> None:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                          ("grpc.max_send_message_length", MAX_MESSAGE)])
        add_servicer(server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(server.stop(0)))
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(serve())
    sys.stdout.flush()
    return 0
