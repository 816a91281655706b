"""timezone: daily buckets, windows, 1d limits and visitor days are the stack's calendar days (daylight
saving included); hours stay UTC hours; still one request per hit; a bad name never deploys."""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from route_counter.handler import counter, listing
from route_counter.handler.rules import buckets, limits, update, visitors
from route_counter.handler.rules.settings import TIMEZONE, Settings
from route_counter.infra import asset
from route_counter.infra.settings import SettingsError, parse
from local.events import build_event
from tests.conftest import START, TABLE
from tests.stack import run_program
from tests.test_infra import check

BERLIN, TOKYO = buckets.Days("Europe/Berlin"), buckets.Days("Asia/Tokyo")


def at(text: str) -> float:
    """Epoch seconds of a UTC time written 2026-11-24T23:30."""
    return float(calendar.timegm(tuple(map(int, text.replace("T", "-").replace(":", "-").split("-"))) + (0, 0, 0, 0)))


def date_bucket(date: str) -> str:
    return buckets.day_name(int(at(date + "T00:00") // buckets.DAY))


def test_a_day_is_the_zone_s_date_and_hours_stay_utc():
    t = at("2026-11-24T23:30")  # 08:30 on the 25th in Tokyo
    assert buckets.current(t, TOKYO) == (buckets.hour_name(int(t // 3600)), date_bucket("2026-11-25"))
    assert buckets.current(t) == (buckets.hour_name(int(t // 3600)), date_bucket("2026-11-24"))
    assert buckets.current(at("2026-11-25T22:59"), BERLIN)[1] == date_bucket("2026-11-25")  # 23:59 in Berlin
    assert buckets.current(at("2026-11-25T23:00"), BERLIN)[1] == date_bucket("2026-11-26")  # midnight


@pytest.mark.parametrize("date, hours, first_utc", [
    ("2026-03-29", 23, "2026-03-28T23:00"),  # clocks go forward: a 23-hour day
    ("2026-10-25", 25, "2026-10-24T22:00"),  # and back: 25 hours
    ("2026-11-24", 24, "2026-11-23T23:00"),
])
def test_daylight_saving_days_have_23_or_25_hours_and_stay_one_bucket(date, hours, first_utc):
    day = int(at(date + "T00:00") // buckets.DAY)
    start, end = BERLIN.start(day), BERLIN.start(day + 1)
    assert (start, end - start) == (at(first_utc), hours * 3600)
    assert {buckets.current(t, BERLIN)[1] for t in (start, start + 3600 * 12, end - 1)} == {buckets.day_name(day)}
    assert buckets.current(end, BERLIN)[1] == buckets.day_name(day + 1)


def test_a_zone_without_whole_hour_offsets_keeps_utc_hours():
    kolkata = buckets.Days("Asia/Kolkata")  # UTC+05:30: its midnight is 18:30 UTC
    assert buckets.current(at("2026-11-24T18:29"), kolkata)[1] == date_bucket("2026-11-24")
    assert buckets.current(at("2026-11-24T18:30"), kolkata)[1] == date_bucket("2026-11-25")
    assert buckets.current(at("2026-11-24T18:30"), kolkata)[0] == buckets.hour_name(int(at("2026-11-24T18:00") // 3600))


def test_windows_and_series_count_the_zone_s_days():
    t = at("2026-11-24T23:30")  # Tokyo: the 25th
    numbers = {date_bucket("2026-11-25"): 3, date_bucket("2026-11-18"): 5, date_bucket("2026-11-19"): 7}
    assert buckets.window_count(numbers, "7d", t, TOKYO) == 3 + 7  # the 19th to the 25th
    assert buckets.window_count(numbers, "7d", t) == 7 + 5  # UTC: the 18th to the 24th (the 25th not yet)
    assert buckets.daily(numbers, t, days=TOKYO) == {"2026-11-18": 5, "2026-11-19": 7, "2026-11-25": 3}


def test_a_1d_rate_limit_ends_at_the_zone_s_midnight():
    limit = limits.Limit("/login", 5, "1d")
    t = at("2026-11-25T22:59")  # 23:59 in Berlin
    assert limit.reset(t, BERLIN) == 60 and limit.reset(t) == 3600 + 60
    assert limit.counter(t, BERLIN) == date_bucket("2026-11-25")
    assert limit.counter(at("2026-11-25T23:00"), BERLIN) == date_bucket("2026-11-26")
    assert limit.reset(at("2026-03-28T23:00"), BERLIN) == 23 * 3600  # the whole short day


def test_a_visitor_day_follows_the_zone():
    secret = b"s" * 32
    evening, after_midnight = at("2026-11-25T22:30"), at("2026-11-25T23:30")  # Berlin 23:30 and 00:30
    one = visitors.marker(secret, evening, "203.0.113.7", "UA", "/a", BERLIN)
    two = visitors.marker(secret, after_midnight, "203.0.113.7", "UA", "/a", BERLIN)
    assert one["id"] != two["id"]  # a new day in Berlin: counted again
    assert visitors.marker(secret, evening, "203.0.113.7", "UA", "/a")["id"] == visitors.marker(
        secret, after_midnight, "203.0.113.7", "UA", "/a")["id"]  # both on the 25th in UTC
    assert int(two["expires"]["N"]) == BERLIN.start(int(at("2026-11-28T00:00") // buckets.DAY))


@pytest.fixture
def tokyo(writer) -> Settings:
    return Settings.from_env({**os.environ, TIMEZONE: "Asia/Tokyo"})


def test_a_hit_is_one_request_on_the_zone_s_day_and_the_listing_says_which_zone(writer, reader, tokyo, clock):
    clock.advance(at("2026-11-24T23:30") - START)
    writer.sent.clear()
    event, _ = build_event("GET", "/late")
    assert counter.handle(event, None, tokyo, writer)["statusCode"] == 200
    assert dict(writer.sent) == {"UpdateItem": 1}
    event, _ = build_event("GET", "/_counts?route=/late")
    record = json.loads(listing.handle(event, None, tokyo, reader)["body"])
    assert record["daily"] == {"2026-11-25": 1} and record["hourly"] == {"2026-11-24T23": 1}
    event, _ = build_event("GET", "/_counts?top=5&window=1h")
    page = json.loads(listing.handle(event, None, tokyo, reader)["body"])
    assert page["timezone"] == "Asia/Tokyo" and page["totals"]["daily"] == {"2026-11-25": 1}
    event, _ = build_event("GET", "/_counts?format=html")
    html = listing.handle(event, None, tokyo, reader)["body"]
    assert '"timezone":"Asia/Tokyo"' in html


def test_update_uses_the_hit_s_days():
    t = at("2026-11-24T23:30")
    request = update.hit_request(TABLE, update.Hit("/x", "GET", t, days=TOKYO))
    assert date_bucket("2026-11-25") in request["ExpressionAttributeNames"].values()
    assert date_bucket("2026-11-24") not in request["ExpressionAttributeNames"].values()


@pytest.mark.parametrize("name", ["Mars/Olympus", "europe/berlin", "utc", "", "../../etc/passwd", "Europe/Berlin "])
def test_a_bad_zone_is_refused_at_config_time(name):
    if name.strip() == "Europe/Berlin":
        assert parse({"timezone": name}).timezone == "Europe/Berlin"  # surrounding space is forgiven
        return
    with pytest.raises(SettingsError, match="timezone must be an IANA time zone name"):
        parse({"timezone": name})


def test_the_handler_refuses_a_bad_zone_at_init():
    with pytest.raises(Exception, match="TIMEZONE: 'Nowhere/City' is not an IANA time zone"):
        Settings.from_env({**os.environ, TIMEZONE: "Nowhere/City"})


def _day_in_asset(files: dict[str, Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Load Europe/Berlin from the asset's files alone: no site-packages, no system zone database."""
    for name, path in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from handler.rules.buckets import Days; "
            "print(Days('Europe/Berlin').day(1795647600.0))")  # 2026-11-26T00:00 in Berlin
    env = {"PATH": os.environ["PATH"], "PYTHONTZPATH": ""}  # empty: zoneinfo looks in no system directory
    return subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)


def test_the_code_asset_carries_the_zone_it_needs(tmp_path):
    with_zone = asset.asset_files("Europe/Berlin")
    assert "tzdata/zoneinfo/Europe/Berlin" in with_zone and "tzdata/zoneinfo/Asia/Tokyo" not in with_zone
    assert not any(name.startswith("tzdata/") for name in asset.asset_files())  # UTC ships no zone data
    found = _day_in_asset(with_zone, tmp_path / "zone")
    assert found.returncode == 0, found.stderr
    assert int(found.stdout) == int(at("2026-11-26T00:00") // buckets.DAY)
    missing = _day_in_asset(asset.asset_files(), tmp_path / "utc")  # the check can fail: no data, no zone
    assert missing.returncode != 0 and "not an IANA time zone name" in missing.stderr


@pulumi.runtime.test
def test_the_zone_reaches_both_functions_and_the_asset():
    def assertions(recorder, _):
        functions = {f.name: f.inputs for f in recorder.of_type("aws:lambda/function:Function")}
        for name in ("route-counter-counter", "route-counter-listing"):
            assert functions[name]["environment"]["variables"][TIMEZONE] == "America/New_York"
            assert "tzdata/zoneinfo/America/New_York" in functions[name]["code"].assets

    return check(run_program(timezone="America/New_York"), assertions)
