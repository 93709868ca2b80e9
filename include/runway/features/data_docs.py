"""Data Docs that render offline: the CDN scripts and stylesheets of GX's pages, made local.

GX's page templates load Bootstrap, jQuery, bootstrap-table, Vega and Font Awesome from CDNs;
without internet the index renders blank. `vendor(site)` copies the assets that
scripts/ensure_web_assets.sh put in the virtualenv into `<site>/_vendor/` (once per set of
pins) and rewrites each page's links to them as relative paths, so a site opens from disk, or
from any server, with no network. Rewriting a page twice changes nothing.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from runway.io import replace_dir, write_text_atomic

log = logging.getLogger(__name__)
VENDOR = "_vendor"  # the site's folder of copied assets
ENSURE_SCRIPT = "scripts/ensure_web_assets.sh"

# Each CDN address GX 1.24's templates use (page.j2, index_page.j2, page_minimal.j2,
# js_script_imports.j2), and the file under the assets folder that replaces it: npm package,
# then its path in the package. Versions are pinned in ENSURE_SCRIPT only.
CDN_FILES = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free/css/all.min.css"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js/dist/umd/popper.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap/dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap/dist/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table/dist/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table/dist/bootstrap-table.min.js"
    ),
    # GX loads the filter-control stylesheet from 1.19.0, its script from 1.19.1: both are
    # served from 1.19.1, the table's own version
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
}

# GX's navbar logo comes from its S3 bucket; every site holds the same images under static/.
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
SITE_IMAGES = "static/images"

# A site-relative address of GX's own static files, as a page writes it.
_STATIC = re.compile(r"^(?:\./|(?:\.\./)+)?static/")

# A <script ...>, <link ...> or <img ...> start tag, and the address attribute inside it.
_TAG = re.compile(r"<(?:script|link|img)\b[^>]*>", re.IGNORECASE)
_ADDRESS = re.compile(r"""\b(src|href)\s*=\s*(["'])(.*?)\2""", re.IGNORECASE)
# Subresource-integrity attributes: a local copy needs neither (and may differ in bytes).
_SRI = re.compile(r"""\s+(?:integrity|crossorigin)(?:\s*=\s*(["']).*?\1)?""", re.IGNORECASE)


class WebAssetsMissing(FileNotFoundError):
    """The assets folder (or a file the pages need from it) is missing."""


def _check_assets(assets_dir: Path) -> None:
    if not assets_dir.is_dir():
        what = "there is no folder"
    else:
        missing = [f for f in sorted(set(CDN_FILES.values())) if not (assets_dir / f).is_file()]
        if missing:
            what = f"{len(missing)} files are missing ({missing[0]}, ...) from"
        elif not (assets_dir / "PINS").is_file():
            what = "the PINS file is missing from"
        else:
            return
    raise WebAssetsMissing(
        f"Data Docs web assets: {what} {assets_dir}: run `bash {ENSURE_SCRIPT}` "
        "(make install runs it) to fetch them"
    )


def copy_assets(site: Path, assets_dir: Path) -> bool:
    """Copy the assets folder to `<site>/_vendor/` unless a copy with the same pins is there;
    True when it copied."""
    _check_assets(assets_dir)
    target = site / VENDOR
    pins = (assets_dir / "PINS").read_bytes()
    if (target / "PINS").is_file() and (target / "PINS").read_bytes() == pins:
        return False
    site.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=site, prefix=f".{VENDOR}."))
    try:
        shutil.copytree(assets_dir, staging, dirs_exist_ok=True)
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def rewrite_page(html: str, page_dir: str) -> tuple[str, list[str]]:
    """The page with each known CDN address (and GX's logo) replaced by a path relative to
    `page_dir` (the page's folder, relative to the site), and the CDN script and stylesheet
    addresses left in it."""
    unknown: list[str] = []

    def tag(match: re.Match) -> str:
        text = match.group(0)
        address = _ADDRESS.search(text)
        if address is None:
            return text
        url = address.group(3)
        if url.startswith(GX_IMAGES):  # its query only defeats caching
            local = posixpath.join(SITE_IMAGES, url[len(GX_IMAGES) :].split("?")[0])
        elif url in CDN_FILES:
            local = posixpath.join(VENDOR, CDN_FILES[url])
        elif _STATIC.match(url):  # GX counts one "../" too few on validation pages (favicon)
            local = _STATIC.sub("static/", url, count=1)
        else:
            if url.startswith(("http://", "https://", "//")) and not text.startswith("<img"):
                unknown.append(url)
            return text
        local = posixpath.relpath(local, page_dir or ".")
        quote = address.group(2)
        text = (
            f"{text[: address.start()]}{address.group(1)}={quote}{local}{quote}"
            + (text[address.end() :])
        )
        return _SRI.sub("", text)

    return _TAG.sub(tag, html), unknown


def _pages(site: Path):
    for dirpath, dirnames, filenames in os.walk(site):
        dirnames[:] = [d for d in dirnames if d != VENDOR and not d.startswith(".")]
        yield from (Path(dirpath) / name for name in filenames if name.endswith(".html"))


def vendor(site: Path, assets_dir: Path, pages: Iterable[Path] | None = None) -> list[Path]:
    """Make the Data Docs site under `site` render offline; returns the pages it rewrote.

    Copies the assets into `<site>/_vendor/` and points the CDN scripts and stylesheets of
    `pages` (those a build just wrote; None: every page) at them. Every page is rewritten when
    the copy is new, so a site built before keeps no CDN page. Raises WebAssetsMissing (naming
    the script that fetches them) when the assets folder is incomplete."""
    site, assets_dir = Path(site), Path(assets_dir)
    if copy_assets(site, assets_dir) or pages is None:
        pages = _pages(site)
    rewritten = []
    for page in pages:
        page = Path(page)
        html = page.read_text()
        new, unknown = rewrite_page(html, page.parent.relative_to(site).as_posix())
        for url in unknown:  # a GX upgrade that adds a CDN file: name it, keep the page
            log.warning("Data Docs page %s loads %s, which has no local copy", page, url)
        if new != html:
            write_text_atomic(new, page)
            rewritten.append(page)
    return rewritten
