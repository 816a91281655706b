"""`python -m local` (what `make dev` runs): serve the real handlers on localhost."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import signal
import socket
import sys

from handler import settings as env
from infra import settings as stack
from local.server import LocalConfig, configure_logging, running

DEFAULT_TABLE = "route-counts-local"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = stack.defaults()
    e = os.environ.get
    p = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    p.add_argument("--host", default=e("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(e("PORT", "8080")), help="0 picks a free port")
    p.add_argument("--dynamodb-endpoint", default=e("DYNAMODB_ENDPOINT") or None,
                   help="use this DynamoDB-compatible server instead of the embedded one")
    p.add_argument("--table", default=e("TABLE_NAME", DEFAULT_TABLE))
    p.add_argument("--stage", default=e("STAGE_NAME", d["stageName"]))
    p.add_argument("--counts-path", default=e("COUNTS_PATH", d["countsPath"]))
    p.add_argument("--cors-origins", default=e(env.CORS_ORIGINS, d["corsOrigins"]))
    p.add_argument("--allow-prefixes", default=e(env.ALLOW_PREFIXES, d["allowPrefixes"]))
    p.add_argument("--route-templates", default=e(env.ROUTE_TEMPLATES, d["routeTemplates"]))
    p.add_argument("--max-route-bytes", default=e(env.MAX_ROUTE_BYTES, d["maxRouteBytes"]))
    p.add_argument("--quiet", action="store_true", help="no per-request log line")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = stack.parse({
            "stageName": args.stage,
            "countsPath": args.counts_path,
            "corsOrigins": args.cors_origins,
            "allowPrefixes": args.allow_prefixes,
            "routeTemplates": args.route_templates,
            "maxRouteBytes": args.max_route_bytes,
        })
    except stack.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = LocalConfig(
        host=args.host,
        port=args.port,
        table=args.table,
        counts_path=settings.counts_path,
        stage=settings.stage_name,
        environment=settings.handler_environment(args.table),
        endpoint=args.dynamodb_endpoint,
        quiet=args.quiet,
        admin=ipaddress.ip_address(socket.gethostbyname(args.host)).is_loopback,
    )
    configure_logging()
    # SIGTERM ends the server like Ctrl-C does: cleanly, exit status 0.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with running(config) as server:
            host, port = server.server_address[:2]
            base = f"http://{host}:{port}"
            store = (
                f"DynamoDB at {config.endpoint}, table {config.table}"
                if config.endpoint
                else "embedded DynamoDB (moto): counts live in memory and are gone when this stops"
            )
            print(f"route-counter local API on {base}  ({store})", flush=True)
            print(f"  count a hit:  curl {base}/hello", flush=True)
            print(f"  see counts:   curl {base}/{config.counts_path}   (or open it in a browser)", flush=True)
            if config.admin:
                print(f"  manage:       .venv/bin/python -m counts --endpoint {base} list", flush=True)
            print("Ctrl-C to stop.", flush=True)
            try:
                server.serve_forever(poll_interval=0.2)
            except KeyboardInterrupt:
                pass
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"error: {args.host}:{args.port} is already in use; pick another port, e.g. make dev PORT={args.port + 1}",
                  file=sys.stderr)
            return 1
        raise
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
