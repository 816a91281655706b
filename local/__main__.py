"""`python -m local` (what `make dev` runs): serve the real handlers on localhost."""

from __future__ import annotations

import argparse
import base64
import errno
import ipaddress
import os
import re
import secrets
import signal
import socket
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from route_counter.infra import settings as stack
from local.server import LOCAL_BUCKET, LocalConfig, configure_logging, running

DEFAULT_TABLE = "route-counts-local"
# The stack settings that mean something locally. Each becomes a flag (`--cors-origins`) and an
# environment variable (`CORS_ORIGINS`), with the help text and default Pulumi.yaml declares: the local
# API reads config through the same schema and the same parser as `pulumi up`.
LOCAL_KEYS = ("stageName", "countsPath", "corsOrigins", "allowPrefixes", "routeTemplates", "maxRouteBytes",
              "downloads", "redirects", "rateLimits", "uniqueVisitors", "countBots", "ignoreIps", "timezone", "meter")
ALIASES = {"stageName": ["--stage"]}  # the wave-1 flag name
_ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?/?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?/?$")


def flag(key: str) -> str:
    return "--" + re.sub(r"(?<!^)(?=[A-Z])", "-", key).lower()


def env_name(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()


def parser() -> argparse.ArgumentParser:
    e = os.environ.get
    p = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    p.add_argument("--host", default=e("HOST", "127.0.0.1"), help="address to bind (IPv6 too: ::1)")
    p.add_argument("--port", type=int, default=int(e("PORT") or 8080), help="0 picks a free port")
    p.add_argument("--dynamodb-endpoint", default=e("DYNAMODB_ENDPOINT") or None,
                   help="use this DynamoDB-compatible server instead of the embedded one")
    p.add_argument("--table", default=e("TABLE_NAME", DEFAULT_TABLE))
    schema, defaults = stack.schema(), stack.defaults()
    for key in LOCAL_KEYS:
        help_text = f"{schema[key].get('description', '')} (stack config {key}; env {env_name(key)})"
        default = e(env_name(key), defaults[key])
        if schema[key]["type"] == "boolean":  # a switch: --unique-visitors
            p.add_argument(flag(key), dest=key, action="store_const", const=True, default=default, help=help_text)
        else:
            p.add_argument(flag(key), *ALIASES.get(key, []), dest=key, metavar=env_name(key), default=default,
                           help=help_text)
    p.add_argument("--count-countries", action="store_true",
                   default=e("COUNT_COUNTRIES", "").strip().lower() == "true",
                   help="count hits per CloudFront-Viewer-Country header, as the stack does with endpointType EDGE "
                        "(try: curl -H 'CloudFront-Viewer-Country: DE' ...; env COUNT_COUNTRIES=true)")
    p.add_argument("--counts-api-key", metavar="KEY", default=e("COUNTS_API_KEY") or None,
                   help="require this x-api-key on the listing path but its badge and page, as a stack with "
                        "countsAccess apiKey does (env COUNTS_API_KEY)")
    p.add_argument("--quiet", action="store_true", help="no per-request log line and no metrics line; errors still show")
    return p


def is_loopback(host: str) -> bool:
    """Whether every address the host name resolves to is a loopback one (IPv4 or IPv6)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # Countries are counted on EDGE stacks only: --count-countries stands for endpointType EDGE here.
        endpoint_type = {"endpointType": "EDGE"} if args.count_countries else {}
        access = {"countsAccess": "apiKey"} if args.counts_api_key else {}  # as the key guards: usage is served
        raw = {**{key: getattr(args, key) for key in LOCAL_KEYS if getattr(args, key) is not None}, **endpoint_type,
               **access}
        settings = stack.parse(raw)
    except stack.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = LocalConfig(
        host=args.host,
        port=args.port,
        table=args.table,
        counts_path=settings.counts_path,
        stage=settings.stage_name,
        # uniqueVisitors: a markers table next to the counts, and a salt secret of this process's own.
        environment=settings.handler_environment(args.table, LOCAL_BUCKET if settings.downloads else "",
                                                 f"{args.table}-visitors", base64.b64encode(secrets.token_bytes(32)).decode(),
                                                 f"{args.table}-meter"),  # always: `counts ingest` meters into it
        endpoint=args.dynamodb_endpoint,
        quiet=args.quiet,
        admin=True,  # for loopback peers only, whatever the bound address (local/server.py)
        counts_api_key=args.counts_api_key,
        stack_config=raw,  # what `python -m counts --endpoint` reads, so it meters by this server's rules
    )
    if args.dynamodb_endpoint and not _ENDPOINT.fullmatch(args.dynamodb_endpoint):
        print(f"error: --dynamodb-endpoint must be an http:// or https:// URL like http://localhost:8000, "
              f"got {args.dynamodb_endpoint!r}", file=sys.stderr)
        return 2
    configure_logging(args.quiet)
    # SIGTERM ends the server like Ctrl-C does: cleanly, exit status 0.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with running(config) as server:
            serve(server, config)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"error: {args.host}:{args.port} is already in use; pick another port, e.g. make dev PORT={args.port + 1}",
                  file=sys.stderr)
            return 1
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
            print(f"error: cannot listen on {args.host}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        raise
    except (BotoCoreError, ClientError) as exc:  # the store: unreachable, or not DynamoDB-compatible
        print(f"error: the DynamoDB endpoint {args.dynamodb_endpoint or '(embedded)'} did not answer as DynamoDB "
              f"does ({type(exc).__name__}: {exc}); start it first, or leave out --dynamodb-endpoint for the "
              "embedded store", file=sys.stderr)
        return 2
    print("stopped", flush=True)
    return 0


def serve(server: Any, config: LocalConfig) -> None:
    base = url(str(server.effective_host), int(server.effective_port))
    store = (
        f"DynamoDB at {config.endpoint}, table {config.table}"
        if config.endpoint
        else "embedded DynamoDB (moto): counts live in memory and are gone when this stops"
    )
    print(f"route-counter local API on {base}  ({store})", flush=True)
    print(f"  count a hit:  curl {base}/hello", flush=True)
    print(f"  see counts:   curl {base}/{config.counts_path}   (or open it in a browser)", flush=True)
    # The CLI is served to this machine only: name a loopback address even when bound to all of them.
    here = base if is_loopback(str(server.effective_host)) else url(
        "::1" if ":" in str(server.effective_host) else "127.0.0.1", int(server.effective_port))
    print(f"  manage:       .venv/bin/python -m counts --endpoint {here} list", flush=True)
    print("Ctrl-C to stop.", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while starting
        sys.exit(130)
