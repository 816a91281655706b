"""The dashboard in a real browser: Debian's chromium, headless, driven by selenium against the local API."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import quote

import pytest

from tests.localapi import ROOT, LocalApi

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Debian's chromium here; on a GitHub-hosted runner, its own Chrome and ChromeDriver ($CHROMEWEBDRIVER).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver") or shutil.which("chromedriver", path=os.environ.get("CHROMEWEBDRIVER", ""))
HITS = {"/home": 5, "/about": 2, "/blog/first-post": 1, "/<script>alert(1)</script>": 1}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed in CI (.ci/run installs them with apt)")
        pytest.skip("needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    os.environ["SE_OFFLINE"] = "true"  # selenium must not try to download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,800", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def api():
    with LocalApi("--quiet") as server:
        for route, n in HITS.items():
            for _ in range(n):
                assert server.request("GET", quote(route))[0] == 200
        yield server


def rows(driver):
    """The table as the user sees it, read in one script call (the page re-renders rows as a whole)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#rows tr')].map(tr => [...tr.cells].map(td => td.innerText.trim()))"
    )


def test_dashboard_shows_counts_bars_filter_and_escapes_routes(browser, api, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{api.base}/_counts")  # a browser's Accept header: the page, not JSON
    WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == len(HITS))
    table = rows(browser)
    assert [(r[0], r[1]) for r in table] == [("/home", "5"), ("/about", "2"), ("/<script>alert(1)</script>", "1"),
                                             ("/blog/first-post", "1")]
    assert table[0][3] == "GET 5"
    assert browser.find_element(By.ID, "totals").text == "4 routes, 9 hits"
    widths = [bar.value_of_css_property("width") for bar in browser.find_elements(By.CSS_SELECTOR, "#rows .bar")]
    cells = [td.size["width"] for td in browser.find_elements(By.CSS_SELECTOR, "#rows td.n")]
    ratios = [round(float(w.removesuffix("px")) / c, 2) for w, c in zip(widths, cells, strict=True)]
    assert ratios == [1.0, 0.4, 0.2, 0.2]  # bars scaled to the top count
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text  # the hostile route rendered as text, its script never ran

    browser.find_element(By.ID, "filter").send_keys("blog")
    assert [r[0] for r in rows(browser)] == ["/blog/first-post"]
    assert "(1 shown)" in browser.find_element(By.ID, "totals").text
    browser.find_element(By.ID, "filter").clear()
    browser.find_element(By.ID, "filter").send_keys(" ")  # clear() fires no input event
    browser.find_element(By.ID, "filter").clear()

    browser.find_elements(By.TAG_NAME, "th")[0].click()  # sort by route
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    if os.environ.get("DASHBOARD_SCREENSHOT"):  # keep a copy to look at
        browser.save_screenshot(os.environ["DASHBOARD_SCREENSHOT"])
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no CSP violation, no script error


def test_load_more_pages_through_the_same_cursor(browser, api):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{api.base}/_counts?format=html&limit=2")
    WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 2)
    more = browser.find_element(By.ID, "more")
    assert more.is_displayed()
    more.click()
    WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 4)
    more = browser.find_element(By.ID, "more")
    if more.is_displayed():  # a full last page can hand back a cursor to an empty page
        more.click()
        WebDriverWait(browser, 10).until(lambda d: not d.find_element(By.ID, "more").is_displayed())
    assert sorted(r[0] for r in rows(browser)) == sorted(HITS)  # and no /favicon.ico counted by viewing


def bucket_records(now: float) -> list[dict]:
    """Imported history: /busy and /quiet with hits spread over the last two days and the last month."""
    hour = lambda h: time.strftime("%Y-%m-%dT%H", time.gmtime(now - h * 3600))  # noqa: E731
    day = lambda d: time.strftime("%Y-%m-%d", time.gmtime(now - d * 86400))  # noqa: E731
    busy = {"hourly": {hour(h): h + 1 for h in range(0, 48, 3)}, "daily": {day(d): 10 * d + 5 for d in range(0, 31, 2)}}
    quiet = {"hourly": {hour(h): 2 for h in range(30, 47, 4)}, "daily": {day(d): 3 for d in range(2, 20, 5)}}
    return [{"route": route, "count": sum(series["daily"].values()), "methods": {}, **series}
            for route, series in (("/busy", busy), ("/quiet", quiet))]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    with LocalApi("--quiet") as server:
        path = tmp_path_factory.mktemp("history") / "history.json"
        path.write_text(json.dumps(bucket_records(time.time())))
        result = subprocess.run([sys.executable, "-m", "counts", "--endpoint", server.base, "import", str(path), "--yes"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        yield server


def test_charts_sparklines_and_window_selector_match_the_data(browser, history, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(f"{history.base}/_counts")
    WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 2)
    bars = browser.execute_script("""return Object.fromEntries(['hourly','daily'].map(id=>[id,
        [...document.querySelectorAll('#'+id+' rect')].map(r=>[r.dataset.key,+r.dataset.value,r.getBBox().height])]))""")
    data = history.request("GET", "/_counts?top=100")[2]
    assert len(bars["hourly"]) == 48 and len(bars["daily"]) == 31
    axes = browser.execute_script("""return Object.fromEntries(['hourly','daily'].map(id=>[id,{
        y:[...document.querySelectorAll('#'+id+' text.y')].map(t=>t.textContent),
        x:[...document.querySelectorAll('#'+id+' text.x')].map(t=>t.textContent)}]))""")
    for name, drawn in bars.items():
        assert [v for _, v, _ in drawn] == [data["totals"][name].get(k, 0) for k, _, _ in drawn]
        tallest = max(v for _, v, _ in drawn)
        scale_top = int(axes[name]["y"][-1].replace(",", ""))  # the count scale: 0 up to a round number
        assert axes[name]["y"][0] == "0" and len(axes[name]["y"]) == 5 and tallest <= scale_top < 2.5 * tallest
        assert all(abs(h - 110 * v / scale_top) < 0.01 for _, v, h in drawn)  # heights to that scale
        assert sum(v > 0 for _, v, _ in drawn) >= {"hourly": 16, "daily": 16}[name] - 1
    # Readable ticks: hours as local clock times (every 6 hours, the date at midnight), days as dates.
    assert len(axes["hourly"]["x"]) >= 7 and all(re.fullmatch(r"\d{1,2}:\d\d( [AP]M)?|[A-Z][a-z]{2} \d{1,2}", x)
                                                 for x in axes["hourly"]["x"]), axes["hourly"]["x"]
    assert len(axes["daily"]["x"]) == 5 and all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", x) for x in axes["daily"]["x"])
    assert browser.find_element(By.ID, "asof").text.startswith("Data as of ")
    sparks = browser.execute_script(
        "return [...document.querySelectorAll('#rows svg.spark polyline')].map(p=>p.getAttribute('points').split(' ').length)")
    assert sparks == [48, 48]
    browser.save_screenshot(str(tmp_path / "charts.png"))
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        browser.save_screenshot(os.environ["DASHBOARD_SCREENSHOT"].replace(".png", "-charts.png"))
    assert (tmp_path / "charts.png").stat().st_size > 10_000

    Select(browser.find_element(By.ID, "window")).select_by_value("24h")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "hits").text == "Hits (24h)")
    windowed = history.request("GET", "/_counts?top=100&window=24h")[2]["routes"]
    assert [(r[0], r[1]) for r in rows(browser)] == [(r["route"], f"{r['windowCount']:,}") for r in windowed]
    assert [r["route"] for r in windowed] == ["/busy"]  # /quiet has no hits in the last 24 hours
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no CSP violation, no script error


def readme_snippet() -> str:
    """The static-site snippet exactly as docs/dashboard.md gives it."""
    readme = (ROOT / "docs" / "dashboard.md").read_text()
    section = readme[readme.index("**A static page counting its own visits**"):]
    return section[section.index("```html") + len("```html"):section.index("```", section.index("```html") + 7)]


@pytest.fixture
def static_site(tmp_path):
    """Serve a page holding the README's snippet from its own origin (another loopback port)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.func.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def publish(api_base: str) -> None:
        snippet = readme_snippet().replace("https://abc123.execute-api.us-east-1.amazonaws.com/v1", api_base)
        (tmp_path / "index.html").write_text(f'<!doctype html><meta charset="utf-8"><title>portfolio</title>{snippet}')

    yield f"http://127.0.0.1:{server.server_address[1]}", publish
    server.shutdown()


def test_readme_static_site_snippet_counts_and_shows_visits_for_the_allowed_origin(browser, static_site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    site, publish = static_site
    with LocalApi("--quiet", "--allow-prefixes", "/visits", "--cors-origins", site) as api:
        publish(api.base)
        for expected in ("1", "2"):
            browser.get(f"{site}/index.html")
            WebDriverWait(browser, 10).until(lambda d, want=expected: d.find_element(By.ID, "visits").text == want)
        assert api.request("GET", "/_counts?route=/visits/index.html")[2]["count"] == 2

        # Another origin's page still sends the hit, but may not read the answer (README says so).
        browser.get(f"{api.base.replace('127.0.0.1', 'localhost')}/nothing-here")  # leave the site
        other = site.replace("127.0.0.1", "localhost")  # same server, a different origin
        browser.get(f"{other}/index.html")
        WebDriverWait(browser, 10).until(
            lambda d: api.request("GET", "/_counts?route=/visits/index.html")[2]["count"] == 3)
        assert browser.find_element(By.ID, "visits").text == "\u2026"  # still the placeholder: CORS blocked the read


def test_with_an_api_key_the_page_asks_for_it_and_keeps_it_in_the_tab(browser):
    """countsAccess apiKey (the local API emulates API Gateway's key check): /_counts/dashboard is public,
    asks for the key, fetches the counts with it, and keeps it in sessionStorage only."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with LocalApi("--quiet", "--counts-api-key", "s3cret-key") as server:
        assert server.request("GET", "/home")[0] == 200
        assert server.request("GET", "/_counts")[0] == 403
        assert server.request("GET", "/_counts", {"x-api-key": "s3cret-key"})[0] == 200
        browser.get(f"{server.base}/_counts/dashboard")
        WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "keyform").is_displayed())
        assert browser.find_element(By.ID, "keymsg").text == "This listing needs its API key."
        browser.find_element(By.ID, "key").send_keys("wrong")
        browser.find_element(By.CSS_SELECTOR, "#keyform button").click()
        WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "keymsg").text == "That key was refused.")
        browser.find_element(By.ID, "key").clear()
        browser.find_element(By.ID, "key").send_keys("s3cret-key")
        browser.find_element(By.CSS_SELECTOR, "#keyform button").click()
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 1)
        assert rows(browser)[0][:2] == ["/home", "1"] and not browser.find_element(By.ID, "keyform").is_displayed()
        stored = browser.execute_script("return [sessionStorage.getItem('route-counter-key'), localStorage.length, document.cookie]")
        assert stored == ["s3cret-key", 0, ""]
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
                  and e["message"].startswith(server.base)]  # (the log also holds earlier tests' pages)
        assert errors and all("status of 403" in m for m in errors)  # only the refused fetches, no script error


def test_a_stored_route_with_a_direction_override_is_shown_escaped(browser):
    """Stored before the counter refused such routes (or imported): the page names every hidden character."""
    from selenium.webdriver.support.ui import WebDriverWait

    with LocalApi("--quiet") as api:
        item = {"route": {"S": "/invoice\u202efdp.exe"}, "count": {"N": "3"}, "count:GET": {"N": "3"}}
        status, _, _ = api.request("POST", "/", {**api.proof(), "X-Amz-Target": "DynamoDB_20120810.PutItem"},
                                   json.dumps({"TableName": "route-counts-local", "Item": item}).encode())
        assert status == 200
        browser.get(f"{api.base}/_counts")
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 1)
        assert rows(browser)[0][0] == "/invoice\\u{202E}fdp.exe [/invoice%E2%80%AEfdp.exe]"


def test_a_route_in_confusable_letters_is_shown_with_its_percent_encoded_form(browser):
    """/ѕhop/x (a Cyrillic ѕ) looks like the metered /shop/x: any route with a non-ASCII character is shown
    with the bytes that tell them apart."""
    from selenium.webdriver.support.ui import WebDriverWait

    with LocalApi("--quiet") as api:
        for route in ("/%D1%95hop/x", "/shop/x", "/caf%C3%A9"):  # as a client sends them
            assert api.request("GET", route)[0] == 200
        browser.get(f"{api.base}/_counts")
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 3)
        shown = sorted(row[0] for row in rows(browser))
        assert shown == ["/caf\u00e9 [/caf%C3%A9]", "/shop/x", "/\u0455hop/x [/%D1%95hop/x]"]


def page_state(driver) -> dict:
    return driver.execute_script("""const e=document.documentElement;return {scroll:e.scrollWidth,width:e.clientWidth,
        heads:[...document.querySelectorAll('thead th')].filter(t=>t.offsetParent).map(t=>t.textContent),
        cells:[...document.querySelectorAll('#rows tr')].map(tr=>tr.cells.length)}""")


def test_on_a_390px_phone_the_page_does_not_scroll_sideways_and_shows_only_what_is_counted(browser, history, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        browser.get(f"{history.base}/_counts")
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 2)
        state = page_state(browser)
        assert state["width"] == 390 and state["scroll"] <= state["width"], state  # no sideways page scroll
        # uniqueVisitors and countBots are off here: no column that would only ever show 0
        assert "Visitors" not in state["heads"] and "Bots" not in state["heads"] and state["cells"] == [6, 6]
        labels = browser.execute_script("""return ['hourly','daily'].map(id=>[...document.querySelectorAll(
            '#'+id+' text')].filter(t=>t.textContent).map(t=>{const b=t.getBoundingClientRect();
            return [t.classList.contains('x'),b.left,b.right,b.height]}))""")
        for axis in labels:  # every label as large as on a desktop, and the time labels clear of each other
            assert all(height >= 10 for _, _, _, height in axis), axis
            ticks = [(left, right) for x, left, right, _ in axis if x]
            assert len(ticks) >= 3 and all(a[1] < b[0] for a, b in itertools.pairwise(ticks)), ticks
        browser.save_screenshot(str(tmp_path / "phone.png"))
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            browser.save_screenshot(os.environ["DASHBOARD_SCREENSHOT"].replace(".png", "-phone.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_hourly_chart_and_first_and_last_seen_show_one_time_zone_the_viewer_s(browser, api):
    """A viewer in New York sees the hour of a hit as 12 AM-style local time in the chart and in the table alike."""
    import datetime
    import zoneinfo

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    zone = "America/New_York"
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": zone})
    try:
        browser.get(f"{api.base}/_counts?top=100")
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == len(HITS))
        record = api.request("GET", "/_counts?route=/home")[2]
        local = {key: datetime.datetime.fromisoformat(record[key]).astimezone(zoneinfo.ZoneInfo(zone))
                 for key in ("firstSeen", "lastSeen")}
        shown = next(r for r in rows(browser) if r[0] == "/home")
        assert [local[k].strftime("%Y-%m-%d %H:%M:%S") for k in local] == shown[-2:]
        title = browser.execute_script(
            "return document.querySelector(`#hourly rect[data-key='${arguments[0]}'] title`).textContent",
            record["lastSeen"][:13])
        when = local["lastSeen"]
        hour = rf"({when.hour % 12 or 12}:00 ?[AP]M|{when.hour}:00)"
        assert re.fullmatch(rf"{when:%b} {when.day} {hour}: \d+", title), (title, when)
        assert browser.find_element(By.ID, "yourzone").text == zone
    finally:
        browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})


def test_with_visitors_and_bots_counted_their_columns_appear(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with LocalApi("--quiet", "--unique-visitors", "--count-bots") as api:
        assert api.request("GET", "/home", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"})[0] == 200
        assert api.request("GET", "/home", {"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})[0] == 200
        browser.get(f"{api.base}/_counts")
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 1)
        state = page_state(browser)
        assert state["heads"][-2:] == ["Visitors", "Bots"] and rows(browser)[0][-2:] == ["1", "1"]
        assert browser.find_element(By.ID, "totals").text == "1 route, 1 hit"  # the bot's hit is apart


def test_an_empty_table_says_how_to_make_the_first_hit(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with LocalApi("--quiet") as api:
        for path in ("/_counts", "/_counts/dashboard"):  # the page with its data, and the shell that fetches it
            browser.get(f"{api.base}{path}")
            WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "empty").is_displayed())
            assert browser.find_element(By.ID, "first").text == f"curl {api.base}/hello"
            assert not browser.find_element(By.ID, "board").is_displayed()
        browser.save_screenshot(str(tmp_path / "empty.png"))
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            browser.save_screenshot(os.environ["DASHBOARD_SCREENSHOT"].replace(".png", "-empty.png"))
        assert api.request("GET", "/hello")[0] == 200
        browser.get(f"{api.base}/_counts?format=html&limit=100")  # a Scan page: the empty top=100 is cached 60 s
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 1)
        assert not browser.find_element(By.ID, "empty").is_displayed()


@pytest.mark.parametrize("style", ["flat", "flat-square", "for-the-badge"])
def test_each_badge_style_renders_in_a_browser(browser, api, tmp_path, style):
    """The read-only badge, opened as an image document: it draws at its declared size, runs nothing."""
    browser.get(f"{api.base}/_counts/badge?route=/home&style={style}&color=brightgreen&abbreviated=true")
    drawn = browser.execute_script("const s=document.documentElement;"
                                   "return [s.tagName, s.getAttribute('height'), Math.round(s.getBBox().width),"
                                   " [...s.querySelectorAll('text')].map(t=>t.textContent)]")
    assert drawn[0] == "svg" and drawn[1] == ("28" if style == "for-the-badge" else "20") and drawn[2] > 40
    assert [t.lower() for t in drawn[3]] == ["visits", "5"]
    browser.save_screenshot(str(tmp_path / f"badge-{style}.png"))
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        browser.save_screenshot(os.environ["DASHBOARD_SCREENSHOT"].replace(".png", f"-badge-{style}.png"))
    assert (tmp_path / f"badge-{style}.png").stat().st_size > 1_000


def test_the_day_chart_counts_the_stack_s_dates(browser):
    """timezone Pacific/Kiritimati (UTC+14): today's bar is the date there, and the hit lands on it."""
    import datetime
    import zoneinfo

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    zone = zoneinfo.ZoneInfo("Pacific/Kiritimati")
    with LocalApi("--quiet", "--timezone", "Pacific/Kiritimati") as api:
        assert api.request("GET", "/far-east")[0] == 200
        record = api.request("GET", "/_counts?route=/far-east")[2]
        before = datetime.datetime.now(zone).date().isoformat()
        browser.get(f"{api.base}/_counts")
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 1)
        after = datetime.datetime.now(zone).date().isoformat()
        bars = browser.execute_script(
            "return [...document.querySelectorAll('#daily rect')].map(r=>[r.dataset.key,+r.dataset.value])")
        assert len(bars) == 31 and bars[-1][0] in (before, after)
        assert [key for key, value in bars if value] == list(record["daily"])
        assert browser.find_element(By.ID, "dayzone").text == "Pacific/Kiritimati"


def test_metered_routes_are_marked_with_their_status_classes(browser, tmp_path):
    """`counts ingest` against `make dev`: the access-log lines show up as metered routes."""
    from selenium.webdriver.support.ui import WebDriverWait

    now = int(time.time() * 1000)
    lines = [json.dumps({"requestId": str(i), "requestTime": str(now), "httpMethod": "GET", "path": f"/prod/users/{i}",
                         "stage": "prod", "status": "200" if i % 4 else "503", "resourcePath": "/users/{id}"})
             for i in range(8)]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines))
    with LocalApi("--quiet") as api:
        result = subprocess.run([sys.executable, "-m", "counts", "--endpoint", api.base, "ingest", str(path),
                                 "--source", "shop"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.startswith("ingested 8 requests on shop"), result.stderr
        browser.get(f"{api.base}/_counts")
        WebDriverWait(browser, 10).until(lambda d: len(rows(d)) == 1)
        state = page_state(browser)
        assert state["heads"][-1] == "Statuses"
        row = rows(browser)[0]
        assert row[0] == "/shop/users/{id} metered" and row[1] == "8" and row[-1] == "2xx 6 · 5xx 2"
