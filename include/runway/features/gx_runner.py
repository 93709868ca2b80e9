"""Running Great Expectations: a suite over a frame, its failures as lines, its Data Docs.

GX 1.x is imported here, inside the functions, only when a gate runs. Data Docs: one site
rooted at `docs_dir` (`<docs_dir>/index.html`); each run is a page under
`<docs_dir>/validations/<suite>/<run>/...`, each suite one under `expectations/`. The suites
and validation results behind the site are kept as JSON under `<docs_dir>/store/`, so the
index lists the latest runs (`DOCS_INDEX_LIMIT`). A rerun with the same name overwrites its
results and pages. The pages a build writes are then made to render offline
(`runway.features.data_docs`: GX's CDN scripts and styles, copied under `<docs_dir>/_vendor/`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from runway.features import data_docs
from runway.features.suites import Expectation
from runway.settings import WEB_ASSETS_DIR

log = logging.getLogger(__name__)
DOCS_INDEX_LIMIT = 200  # validation runs the Data Docs index lists, newest data day first


def _gx_context(docs_dir: Path):
    """An ephemeral GX context: its suites, validation results and Data Docs under docs_dir."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    def on_disk(store: str, folder: Path) -> dict:
        backend = {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)}
        return {"class_name": store, "store_backend": backend}

    # Suites and results persist beside the site: the site builder drops pages whose source is
    # missing from the store, so in-memory stores would make each run erase the others' pages.
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    suites, results = docs_dir / "store" / "suites", docs_dir / "store" / "results"
    stores[defaults.expectations_store_name] = on_disk("ExpectationsStore", suites)
    stores[defaults.validation_results_store_name] = on_disk("ValidationResultsStore", results)
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            "runway": {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": DOCS_INDEX_LIMIT,  # bounds the index's cost
                },
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _plain(value) -> str:
    """A sample value as text; a pair's values without numpy's reprs."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


def _describe(result, columns) -> str:
    """One line for a failed expectation: its name, column and what was wrong, with counts."""
    config = result.expectation_config
    kwargs = config.kwargs
    pair = [kwargs[k] for k in ("column_A", "column_B") if kwargs.get(k)]  # pair expectations
    listed = [*(kwargs.get("column_list") or []), *pair]
    target = kwargs.get("column") or ",".join(listed)
    label = f"{config.type}({target})" if target else config.type
    absent = [c for c in [kwargs.get("column"), *listed] if c]
    absent = [c for c in absent if c not in columns]
    if absent:  # GX's own errors for an absent column go from clear to "list index out of range"
        return f"{label}: column {', '.join(absent)} is missing"
    info = result.exception_info or {}
    if not info.get("raised_exception"):  # GX nests per-metric exceptions one level down
        nested = (v for v in info.values() if isinstance(v, dict) and v.get("raised_exception"))
        info = next(nested, info)
    if info.get("raised_exception"):
        message = str(info.get("exception_message") or "").strip().splitlines()
        return f"{label}: could not be evaluated: {message[-1] if message else 'error'}"
    res = result.result or {}
    if res.get("unexpected_count") is not None and res.get("element_count") is not None:
        line = f"{label}: {res['unexpected_count']} of {res['element_count']} rows unexpected"
        if kwargs.get("mostly") is not None:  # a bound on the share, not on every row
            line += f", more than the bound allows (at most {1 - kwargs['mostly']:.0%})"
        sample = [_plain(v) for v in res.get("partial_unexpected_list") or [] if _present(v)]
        return line + (f" (e.g. {sample[:3]})" if sample else "")
    mismatched = (res.get("details") or {}).get("mismatched")
    if mismatched:
        missing, unexpected = mismatched.get("missing") or [], mismatched.get("unexpected") or []
        return f"{label}: missing columns {missing}, unexpected columns {unexpected}"
    skip = ("column", "column_list", "batch_id")
    expected = {k: v for k, v in kwargs.items() if k not in skip and v is not None}
    return f"{label}: observed {res.get('observed_value')!r}, expected {expected}"


def run(
    gate: str,
    label: str,
    run_time: dt.datetime,
    frames: dict[str, pd.DataFrame],
    suites: dict[str, list[Expectation]],
    docs_dir: Path,
    suite_prefix: str | None = None,
) -> tuple[dict[str, list[str]], Path | None, dict[str, str]]:
    """Validate each frame against its suite with a GX Checkpoint, then build Data Docs.

    `label` names the run (`<gate>-<label>`: a day, or a range of days) and its batches; the
    suites are named `<suite_prefix>_<table>` (the gate by default). Returns the failures by
    table, the site's index (None if the docs could not be built) and each table's page.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    docs_dir = Path(docs_dir)
    prefix = suite_prefix or gate
    context = _gx_context(docs_dir)
    source = context.data_sources.add_pandas(gate)
    # Fixed run id per gate and day: a rerun overwrites that day's results instead of piling up.
    run_id = RunIdentifier(run_name=f"{gate}-{label}", run_time=run_time)
    failures: dict[str, list[str]] = {}
    result_ids = {}
    for table, frame in frames.items():
        # passed whole: add_expectation one by one compares each with all before it (quadratic)
        expectations = [getattr(gxe, name)(**kwargs) for name, kwargs in suites[table]]
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=f"{prefix}_{table}", expectations=expectations)
        )
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(label)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{prefix}_{table}", data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{prefix}_{table}",
                validation_definitions=[definition],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
        for result_id, run in outcome.run_results.items():
            result_ids[table] = result_id
            columns = set(frame.columns)
            failures[table] = [_describe(r, columns) for r in run.results if not r.success]
    pages: dict[str, str] = {}
    try:
        suite_ids = [ExpectationSuiteIdentifier(name=f"{prefix}_{table}") for table in result_ids]
        resources = [*result_ids.values(), *suite_ids]
        context.build_data_docs(site_names=["runway"], resource_identifiers=resources)
    except Exception:  # a rendering bug must not stop bad data from being quarantined
        log.exception("could not build GX Data Docs under %s", docs_dir)
        return failures, None, pages
    for table, result_id in result_ids.items():
        pages[table] = _page(context, result_id)
    built = [docs_dir / "index.html", *pages.values(), *(_page(context, s) for s in suite_ids)]
    try:
        data_docs.vendor(docs_dir, WEB_ASSETS_DIR, [Path(p) for p in built if p])
    except data_docs.WebAssetsMissing as error:  # the docs stay, loading their CDN files
        log.error("GX Data Docs under %s need the internet to render: %s", docs_dir, error)
    except Exception:  # as with the build: never in the way of the gate's verdict
        log.exception("could not make the GX Data Docs under %s render offline", docs_dir)
    return failures, docs_dir / "index.html", pages


def _page(context, resource_id) -> str:
    """The file of a resource's page in the Runway site ("" if it has none)."""
    urls = context.get_docs_sites_urls(resource_identifier=resource_id, site_name="runway")
    return unquote(urlparse(urls[0]["site_url"]).path) if urls else ""
