"""How a plugin process serves gRPC to the Pulumi CLI: print the port, then serve until the CLI stops it."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Callable

import grpc

MAX_MESSAGE = 400 * 1024 * 1024  # the CLI's own limit for plugin messages (a large program's state)


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
