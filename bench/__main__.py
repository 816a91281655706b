"""`make bench`: ours vs the tutorial-style baseline (bench/baseline.py), paired in one run.

This machine is shared and noisy, so every figure is a ratio of medians measured side by side, with runs
alternating between ours and the baseline. Nothing here is a pass/fail timing assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
TABLE = "bench-counts"
ENV = {
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1", "TABLE_NAME": TABLE,
}
os.environ.update(ENV)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
    os.environ.pop(_name, None)
sys.path.insert(0, str(ROOT))
# In this process the handlers run against moto in process, which intercepts botocore only: the botocore
# writer here (request counts and the listing). The lean writer is measured in its own processes below.
from bench.asset import code_asset  # noqa: E402
from route_counter.infra import settings as _stack  # noqa: E402

os.environ.update(_stack.parse({"writer": "botocore"}).handler_environment(TABLE))

# Runs in a fresh interpreter, as a Lambda cold start does: import the handler module as Lambda does
# (``handler.counter`` from the code asset's root, route_counter/: not through the route_counter package,
# whose __init__ Lambda never runs), then answer the first hit (which creates its client and opens its
# connection). The event is parsed before the clock starts: on Lambda the runtime does that, for every
# handler alike.
COLD = """
import json, os, resource, sys, time
event = json.loads(sys.argv[2])
sys.path.insert(0, "route_counter")  # the asset's root: its handler/ is the zip's
cpu0, wall0 = time.process_time(), time.perf_counter()
if sys.argv[1] == "baseline":
    import bench.baseline as module
else:
    import handler.counter as module
answer = module.handler(event, None)
cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
assert answer["statusCode"] == 200, answer
# VmHWM is this image's peak RSS; ru_maxrss would carry over the (larger) bench parent's across fork+exec.
try:
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(cpu, wall, peak, int("botocore" in sys.modules))
"""
VARIANTS = ("lean", "botocore", "baseline")  # our two writers, and the tutorial handler


def median_ratio(ours: list[float], base: list[float]) -> tuple[float, float, float]:
    """Medians of each side and the median of the paired ratios (run i of ours against run i of the
    baseline, measured back to back), which shrugs off the drift of a shared machine."""
    return statistics.median(ours), statistics.median(base), statistics.median(o / b for o, b in zip(ours, base, strict=True))


class FakeStore:
    """bench/fake_dynamodb.py in its own process, so its CPU is not charged to what is measured."""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.fake_dynamodb"], cwd=ROOT, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        return f"http://127.0.0.1:{self.proc.stdout.readline().strip()}"

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait()


def variant_env(which: str, endpoint: str) -> dict[str, str]:
    from route_counter.infra import settings as stack

    writer = "botocore" if which == "baseline" else which
    # A download configured, as on a portfolio: an ordinary hit must still not load the S3 client.
    settings = stack.parse({"writer": writer, "downloads": "/resume.pdf=tests/files/resume.pdf"})
    return {**os.environ, **ENV, **settings.handler_environment(TABLE, "bench-downloads"),
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint}


def cold_init(runs: int) -> dict[str, Any]:
    """Cold init + first hit, each variant in fresh interpreters, runs interleaved: lean, botocore, baseline."""
    from local.events import build_event

    event = json.dumps(build_event("GET", "/bench/cold")[0])
    samples: dict[str, dict[str, list[float]]] = {k: {"cpu": [], "wall": [], "rss": [], "botocore": []} for k in VARIANTS}
    with FakeStore() as endpoint:
        for i in range(runs * len(VARIANTS)):
            which = VARIANTS[i % len(VARIANTS)]
            out = subprocess.run([sys.executable, "-c", COLD, which, event], cwd=ROOT, env=variant_env(which, endpoint),
                                 capture_output=True, text=True, check=True).stdout.split()
            for key, value in zip(("cpu", "wall", "rss", "botocore"), map(float, out), strict=True):
                samples[which][key].append(value)
    result: dict[str, Any] = {}
    for which in ("lean", "botocore"):
        result[which] = {key: median_ratio(samples[which][key], samples["baseline"][key]) for key in ("cpu", "wall", "rss")}
        result[which]["botocore_loaded"] = any(samples[which]["botocore"])
    # The bare interpreter, for the floor.
    floor = [float(subprocess.run([sys.executable, "-c", "import time; print(time.process_time())"], cwd=ROOT,
                                  capture_output=True, text=True, check=True).stdout) for _ in range(runs)]
    result["interpreter"] = statistics.median(floor)
    return result


def warm_path(hits: int, blocks: int) -> dict[str, Any]:
    """CPU per counted hit, warm, against an instant local endpoint: each variant in its own process
    (each module reads its writer from the environment at import), blocks interleaved."""
    from local.events import build_event

    code = """
import json, sys, time
event = json.loads(sys.argv[2])
if sys.argv[1] == "baseline":
    import bench.baseline as module
else:
    from route_counter.handler import counter as module
for _ in range(50):  # warm: connection open, caches filled
    assert module.handler(event, None)["statusCode"] == 200
for line in sys.stdin:
    n = int(line)
    start = time.process_time()
    for _ in range(n):
        module.handler(event, None)
    print((time.process_time() - start) / n, flush=True)
"""
    event = json.dumps(build_event("GET", "/bench/route?utm=1")[0])
    per_block = hits // blocks
    samples: dict[str, list[float]] = {k: [] for k in VARIANTS}
    with FakeStore() as endpoint:
        procs = {which: subprocess.Popen([sys.executable, "-c", code, which, event], cwd=ROOT,
                                         env=variant_env(which, endpoint), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True) for which in VARIANTS}
        try:
            for _ in range(blocks):
                for which, proc in procs.items():
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(f"{per_block}\n")
                    proc.stdin.flush()
                    samples[which].append(float(proc.stdout.readline()))
        finally:
            for proc in procs.values():
                proc.kill()
                proc.wait()
    return {which: median_ratio(samples[which], samples["baseline"]) for which in ("lean", "botocore")} | {
        "hits": per_block * blocks}


# Lambda gives a function CPU in proportion to its memory: one full vCPU at 1,769 MB.
FULL_VCPU_MB = 1769


def top_scan_cpu(runs: int = 3) -> dict[str, Any]:
    """The listing's own CPU for ``top=10`` over its worst case, a 50,000-item scan (the store is a separate
    process answering at once, so this is the function's share only): per 1,000 items, and as seconds of
    a Lambda at the listing's memory size, against its timeout."""
    from bench import fake_dynamodb
    from route_counter.infra import settings as stack
    from route_counter.infra.component import LISTING_TIMEOUT

    fake = subprocess.Popen([sys.executable, "-m", "bench.fake_dynamodb"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{fake.stdout.readline().strip()}"
        from route_counter.handler import listing
        from local.events import build_event

        listing._client = None
        event, _ = build_event("GET", "/_counts?top=10")
        samples = []
        for _ in range(runs):
            listing._top_cache.clear()  # measure the scan, not the memo
            start = time.process_time()
            body = json.loads(listing.handler(event, None)["body"])
            samples.append(time.process_time() - start)
            assert body["scanned"] == fake_dynamodb.TABLE_ITEMS and body["truncated"] is False, body
        per_thousand = statistics.median(samples) / (fake_dynamodb.TABLE_ITEMS / 1000)
        memory = stack.defaults()["listingMemorySize"]
        worst = per_thousand * 50 * FULL_VCPU_MB / memory
        return {"per_thousand": per_thousand, "memory": memory, "worst": worst, "timeout": LISTING_TIMEOUT}
    finally:
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        from route_counter.handler import listing

        listing._client = None
        fake.terminate()
        fake.wait()


def with_moto(fn: Callable[[], Any]) -> Any:
    from moto import mock_aws

    with mock_aws():
        from route_counter.handler import counter, listing
        from route_counter.handler.rules import schema
        from route_counter.handler.store.dynamo import create_client

        create_client(retries=True).create_table(**schema.create_table_kwargs(TABLE))
        counter._client = listing._client = None
        import bench.baseline as baseline
        import boto3

        baseline.table = boto3.resource("dynamodb").Table(TABLE)  # rebound inside the mock
        try:
            return fn()
        finally:
            counter._client = listing._client = None


def sent_log(client: Any) -> Counter[str]:
    sent: Counter[str] = Counter()

    def record(request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        sent[(target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]] += 1

    client.meta.events.register_first("before-send.dynamodb", record)
    return sent


def requests_per_hit() -> dict[str, dict[str, int]]:
    def run() -> dict[str, dict[str, int]]:
        from bench import baseline
        from route_counter.handler import counter
        from local.events import build_event

        ours, base = sent_log(counter._dynamodb()), sent_log(baseline.table.meta.client)
        cases = {"counted hit": ("GET", "/a"), "CORS preflight": ("OPTIONS", "/a"), "oversize path (3 KB)": ("GET", "/" + "x" * 3000)}
        result = {}
        for label, (method, target) in cases.items():
            event, _ = build_event(method, target)
            ours.clear(), base.clear()
            counter.handler(event, None)
            try:
                baseline.handler(event, None)
            except Exception:  # the baseline has no input checks: DynamoDB rejects the 3 KB key
                pass
            result[label] = {"ours": sum(ours.values()), "baseline": sum(base.values())}
        return result

    return with_moto(run)


def listing_cost(routes: int) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        from bench import baseline
        from route_counter.handler import listing
        from route_counter.handler.rules import schema
        from local.events import build_event

        client = listing._dynamodb()
        for start in range(0, routes, 25):
            client.batch_write_item(RequestItems={TABLE: [
                {"PutRequest": {"Item": {**schema.key(f"/r/{i}"), schema.COUNT: {"N": str(i % 97 + 1)}}}}
                for i in range(start, min(start + 25, routes))
            ]})
        sent = sent_log(client)

        def list_all() -> int:
            seen, cursor = 0, None
            while True:
                event, _ = build_event("GET", "/_counts?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
                body = json.loads(listing.handler(event, None)["body"])
                seen += len(body["routes"])
                cursor = body["next"]
                if not cursor:
                    return seen

        cpu: dict[str, list[float]] = {"ours": [], "baseline": []}
        for i in range(6):
            which = ("ours", "baseline")[i % 2]
            start = time.process_time()
            count = list_all() if which == "ours" else len(baseline.list_counts())
            cpu[which].append(time.process_time() - start)
            assert count == routes, (which, count)
        sent.clear()
        list_all()
        pages = sent["Scan"]
        sent.clear()
        event, _ = build_event("GET", "/_counts?top=10")
        top = json.loads(listing.handler(event, None)["body"])
        return {"cpu": median_ratio(cpu["ours"], cpu["baseline"]), "scans": pages, "top_scans": sent["Scan"],
                "top_scanned": top["scanned"], "top_truncated": top["truncated"], "writes": sum(
                    n for op, n in sent.items() if op not in ("Scan", "GetItem"))}

    return with_moto(run)


def item_growth() -> dict[str, Any]:
    """A route's item as time buckets fill it: 20,000 hits over 120 days on one route, and a route hit
    60 times in the same 120 days (idle gaps: the rare cleanup request). bench/items.py replays the
    counter's own requests; tests/test_buckets.py checks that replay against moto."""
    import random

    from bench.items import simulate

    rng, day, end = random.Random(120), 86400, time.time()
    busy = simulate("/blog/2026/11/how-we-count-every-hit", sorted(end - rng.random() * 120 * day for _ in range(20_000)))
    sparse = simulate("/blog/2026/11/how-we-count-every-hit", sorted(end - rng.random() * 120 * day for _ in range(60)))
    return {"busy": busy, "sparse": sparse}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--cold-runs", type=int, default=25)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--routes", type=int, default=10_000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    import botocore

    print(f"route-counter bench, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, botocore {botocore.__version__}", flush=True)
    requests = requests_per_hit()
    cold = cold_init(args.cold_runs)
    warm = warm_path(args.hits, 10)
    listed = listing_cost(args.routes)
    top = top_scan_cpu()
    asset = code_asset()
    items = item_growth()
    from bench import hot, library, metering

    metered = metering.numbers()
    hotter = hot.numbers()
    packaged = library.numbers()

    rows = [("what", "ours", "baseline", "ours/baseline", "target")]
    for label, counts in requests.items():
        rows.append((f"DynamoDB requests per {label}", str(counts["ours"]), str(counts["baseline"]), "", "1 / 0 / 0"))
    for which in ("lean", "botocore"):
        o, b, r = cold[which]["cpu"]
        target = "<= 0.30" if which == "lean" else ""
        rows.append((f"cold init + first hit CPU, writer={which}, median of {args.cold_runs}", f"{o*1000:.1f} ms",
                     f"{b*1000:.1f} ms", f"{r:.2f}", target))
    for which in ("lean", "botocore"):
        o, b, r = cold[which]["wall"]
        rows.append((f"cold init + first hit wall time, writer={which}", f"{o*1000:.1f} ms", f"{b*1000:.1f} ms", f"{r:.2f}", ""))
    rows.append(("  (the bare interpreter, for the floor)", f"{cold['interpreter']*1000:.1f} ms", "", "", ""))
    rows.append(("  botocore imported on a lean cold start (a download configured: S3 client lazy)",
                 "yes" if cold["lean"]["botocore_loaded"] else "no", "", "", "no"))
    for which in ("lean", "botocore"):
        o, b, r = cold[which]["rss"]
        rows.append((f"cold peak RSS, writer={which}", f"{o/1024:.1f} MiB", f"{b/1024:.1f} MiB", f"{r:.2f}", ""))
    for which in ("lean", "botocore"):
        o, b, r = warm[which]
        rows.append((f"warm CPU per counted hit, writer={which} ({warm['hits']} hits each)", f"{o*1e6:.0f} us",
                     f"{b*1e6:.0f} us", f"{r:.2f}", "<= 0.90"))
    o, b, r = listed["cpu"]
    rows.append((f"list all {args.routes} routes (moto), CPU", f"{o*1000:.0f} ms", f"{b*1000:.0f} ms", f"{r:.2f}", ""))
    rows.append((f"Scan requests to list {args.routes} routes (limit=1000)", str(listed["scans"]), "", "", ""))
    rows.append((f"top=10 over {args.routes} routes: Scan requests / items read",
                 f"{listed['top_scans']} / {listed['top_scanned']}", "", "", "bound 50,000 items"))
    rows.append(("writes made by the listing", str(listed["writes"]), "", "", "0"))
    rows.append(("listing CPU per 1,000 items scanned by top=N (store in another process)",
                 f"{top['per_thousand']*1000:.1f} ms", "", "", ""))
    rows.append((f"top=N worst case (50,000 items) at listingMemorySize {top['memory']} MB, this CPU",
                 f"{top['worst']:.1f} s", "", "", f"< {top['timeout']} s timeout"))
    busy, sparse = items["busy"], items["sparse"]
    rows.append(("write units per hit, busiest route after 120 days (20,000 hits, 36-byte route): item size",
                 f"{busy.max_write_units} WCU: {busy.max_bytes:,} B", "", "", "<= 2 WCU (2 KB)"))
    from bench.items import steady_sizes

    for label, size in steady_sizes().items():
        rows.append((f"  item after a year at 1,000 hits/s, {label}: write units per hit", f"{size:,} B: "
                     f"{-(-size // 1024)} WCU", "", "", "1 WCU under 1 KB"))
    rows.append(("  second (cleanup) requests per 1,000 hits, busiest route / a route hit 60 times in 120 days",
                 f"{1000 * busy.cleanups / busy.hits:.1f} / {1000 * sparse.cleanups / sparse.hits:.0f}", "", "",
                 "<= 1 (busiest)"))
    rows.append(("code asset, zipped (exactly what Pulumi ships: handler/ + requirements-lambda.txt)",
                 f"{asset['bytes']/1024:.1f} KB, {asset['files']} files", "", "", "no boto3/botocore"))
    counted = requests["counted hit"]["ours"] * 1000
    rows.append(("DynamoDB requests per 1,000 metered requests, one route in one delivery",
                 str(metered["one_route"]), f"{counted} (counted)", f"{metered['one_route'] / counted:.3f}", ""))
    rows.append(("DynamoDB requests per 1,000 metered requests over 50 routes (items written / read)",
                 f"{metered['fifty_routes']} ({metered['written']} / {metered['read']})", f"{counted} (counted)",
                 f"{metered['fifty_routes'] / counted:.3f}", ""))
    rows.append(("hot route at 10,000 requests/s, 4 log streams: writes per second on its item",
                 f"{metered['hot']['writes_per_second']:.0f}", "10000 (counted)", "", "a few (<< 1,000 WCU/s)"))
    rows.append(("CPU per 1,000 access-log lines parsed and aggregated",
                 f"{metered['hot']['cpu_per_thousand'] * 1000:.1f} ms", f"{warm['lean'][0] * 1e6:.0f} ms (1,000 counted hits)",
                 f"{metered['hot']['cpu_per_thousand'] / (warm['lean'][0] * 1000):.2f}", ""))
    for shape, (lines, routes) in metering.SHAPES.items():
        found = metered["shapes"][shape]
        rows.append((f"cost per million metered requests, {shape} ({lines:,} lines over {routes} route(s) a delivery; "
                     f"own log {metered['own_log_bytes']} B a delivery): logs ${found['logs']:.3f} + Lambda "
                     f"${found['lambda']:.3f} + DynamoDB ${found['dynamodb']:.3f}", f"${found['total']:.2f}", "", "", ""))
    cost = metered["per_million"]
    rows.append((f"cost per million metered requests: logs {metered['line_bytes']} B/line ${cost['logs']:.3f} + Lambda "
                 f"${cost['lambda']:.3f} + DynamoDB ${cost['dynamodb']:.3f} (1,000 lines a delivery, 50 routes)",
                 f"${metered['total']:.2f}", "$4.89 (counted)", f"{metered['total'] / 4.89:.2f}", "<= $0.50"))
    rows.append((f"hits/s one route sustains at {hot.OFFERED:,} offered, every one counted once: parts off / on "
                  "(per-key stand-in: 1,000 WCU/s)", f"{hotter['on']:,.0f}", f"{hotter['off']:,.0f} (parts off)",
                  f"{hotter['on'] / hotter['off']:.1f}", ">= 10,000"))
    for label, found in hotter["per_hit"].items():
        rows.append((f"{label} hit: DynamoDB requests / write units / read units per hit, DynamoDB cost per million",
                     f"{found['requests']:.3f} / {found['wcu']:.2f} / {found['rcu']:.3f}, ${found['per_million']:.3f}",
                     "", "", "cold: 1 / 1 / 0"))
    lost = hotter["lost"]
    rows.append(("increments lost of 200 hits, two regions (last writer wins): one shared item / parts per region",
                 str(lost["parts per region"]), f"{lost['one shared item']} (one shared item)", "", "0"))
    rows.append(("route-counter wheel (pip install), bytes", f"{packaged['wheel_bytes'] / 1024:.1f} KB", "", "", ""))
    inst, check = packaged["installed"], packaged["checkout"]
    rows.append(("code asset zipped from an installed wheel / from a checkout",
                 f"{inst['zipped'] / 1024:.1f} KB, {inst['files']} files", f"{check['zipped'] / 1024:.1f} KB, "
                 f"{check['files']} files", "same bytes" if packaged["same_asset"] else "DIFFERENT", "same bytes"))
    rows.append(("import route_counter's components in a program (baseline: pulumi, pulumi_aws, pulumi_random)",
                 f"{packaged['import'] * 1000:.0f} ms", f"{packaged['baseline'] * 1000:.0f} ms",
                 f"{packaged['import'] / packaged['baseline']:.2f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for n, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\nreproduce: make bench   (options: .venv/bin/python -m bench --help)")
    return 0 if asset["only_handler"] and packaged["same_asset"] else 1


if __name__ == "__main__":
    sys.exit(main())
