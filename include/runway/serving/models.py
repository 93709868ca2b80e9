"""The model versions a worker answers with, and `choose`, which picks one per flight.

Each watched alias has a `Watcher`: a background thread asks the registry every
`poll_seconds` where the alias points and, when it moved (promotion, rollback), loads the new
version beside the old one and swaps a single reference. A request reads that reference once,
so it is answered wholly by one version, and none waits for or fails on a load: every worker
serves the new version at most `poll_seconds` plus one load after the alias moved.

`Models.choose(flight_id)` is the one function that decides which model answers a flight:
the champion (arm None) outside an online experiment; under the active experiment (the
`experiments` record, polled like the aliases by an `ExperimentWatcher`), the arm
`runway.experiments.assignment.route` gives (a sticky hash of its salt and the flight key), and
the arm it returns is logged with the answer; in shadow mode the champion answers and the
choice carries the challenger as its `shadow`, whose score is logged beside the answer. A
flight routed to (or shadowed by) a challenger this worker has not loaded yet is answered by
the champion with arm None: it stays out of the experiment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from runway import registry
from runway.experiments.assignment import CHALLENGER, CHAMPION, route

log = logging.getLogger(__name__)


class NoChampion(LookupError):
    """No version carries the alias yet: the message says what to run."""


@dataclasses.dataclass(frozen=True)
class Loaded:
    alias: str
    version: int
    model: object  # mlflow pyfunc: predict(frame) -> P(delayed)
    load_seconds: float


@dataclasses.dataclass(frozen=True)
class Choice:
    """The model answering one flight; `arm`/`experiment_id` are None outside experiments."""

    version: int
    model: object
    arm: str | None = None
    experiment_id: str | None = None
    shadow: Loaded | None = None  # shadow mode: the challenger, scoring the flight unseen


class Watcher:
    """Keeps the version behind one alias loaded, swapping when the alias moves."""

    def __init__(
        self,
        alias: str,
        *,
        tracking_uri: str,
        model_name: str,
        poll_seconds: float,
        on_load: Callable[[Loaded], None] | None = None,
    ):
        self.alias, self.tracking_uri, self.model_name = alias, tracking_uri, model_name
        self.poll_seconds = poll_seconds
        self.on_load = on_load
        self.current: Loaded | None = None  # swapped whole: readers take it once
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pointed(self) -> int | None:
        return registry.alias_version(
            self.alias, tracking_uri=self.tracking_uri, model_name=self.model_name
        )

    def refresh(self) -> bool:
        """Load the version the alias points to if it is not the one held; True if swapped."""
        version = self._pointed()
        if version is None or (self.current and self.current.version == version):
            return False
        started = time.monotonic()
        model = registry.load_model(
            registry.version_uri(version, self.model_name), tracking_uri=self.tracking_uri
        )
        loaded = Loaded(self.alias, version, model, time.monotonic() - started)
        previous = self.current
        self.current = loaded  # the swap: one reference assignment
        log.info(
            "%s %s: version %s loaded in %.2f s (was %s)",
            self.model_name,
            self.alias,
            version,
            loaded.load_seconds,
            previous.version if previous else None,
        )
        if self.on_load:
            self.on_load(loaded)
        return True

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
                self.last_error = None
            except Exception as err:  # the registry being away must not stop the poller
                self.last_error = f"{type(err).__name__}: {err}"
                log.warning("polling %s@%s failed: %s", self.model_name, self.alias, err)

    def start(self) -> None:
        try:
            self.refresh()
        except Exception as err:
            self.last_error = f"{type(err).__name__}: {err}"
            log.warning("loading %s@%s failed: %s", self.model_name, self.alias, err)
        self._thread = threading.Thread(target=self._poll, name=f"poll-{self.alias}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.poll_seconds + 5)


class ExperimentWatcher:
    """Keeps the active experiment's record (or None) as this worker's routing, polled from
    the SQL store every `poll_seconds`: a start, a ramp or an end is followed within that."""

    def __init__(self, sql_url: str, *, poll_seconds: float):
        self.sql_url, self.poll_seconds = sql_url, poll_seconds
        self.current: dict | None = None  # swapped whole, like a Watcher's model
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        from runway import sql
        from runway.experiments import record

        engine = sql.engine(self.sql_url)
        sql.ensure_tables(engine)
        self.current = record.active(engine)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
                self.last_error = None
            except Exception as err:  # the store being away keeps the last routing
                self.last_error = f"{type(err).__name__}: {err}"
                log.warning("reading the active experiment failed: %s", err)

    def start(self) -> None:
        try:
            self.refresh()
        except Exception as err:
            self.last_error = f"{type(err).__name__}: {err}"
            log.warning("reading the active experiment failed: %s", err)
        self._thread = threading.Thread(target=self._poll, name="poll-experiment", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.poll_seconds + 5)


def _flight_date(flight_id: str) -> dt.date | None:
    try:  # flight ids start with their local date: "2026-03-09-UA-1545-EWR-0515"
        return dt.date.fromisoformat(flight_id[:10])
    except ValueError:
        return None


class Models:
    """The watched aliases of one worker, the experiment it follows, and the choice of the
    model per flight."""

    def __init__(self, watchers: dict[str, Watcher], experiment: ExperimentWatcher | None = None):
        if registry.CHAMPION not in watchers:
            raise ValueError("the champion alias must be watched")
        self.watchers = watchers
        self.experiment = experiment

    @property
    def champion(self) -> Loaded | None:
        return self.watchers[registry.CHAMPION].current

    def choose(self, flight_id: str) -> Choice:
        """The model that answers `flight_id`. The champion, until an experiment routes."""
        loaded = self.champion
        if loaded is None:
            watcher = self.watchers[registry.CHAMPION]
            raise NoChampion(
                f"registered model {watcher.model_name!r} has no '{registry.CHAMPION}' alias yet: "
                "run the training_pipeline DAG (make demo trains the first champion); this "
                f"service loads it within {watcher.poll_seconds:g} s of its promotion"
                + (f" (last registry error: {watcher.last_error})" if watcher.last_error else "")
            )
        experiment = self.experiment.current if self.experiment else None
        day = _flight_date(flight_id)
        if experiment is None or day is None:
            return Choice(loaded.version, loaded.model)
        chosen = route(experiment, loaded.version, flight_id, day)
        watcher = self.watchers.get(registry.CHALLENGER)
        held = watcher.current if watcher else None
        if chosen.shadow_version is not None:
            if held is not None and held.version == chosen.shadow_version:
                return Choice(
                    loaded.version, loaded.model, CHAMPION, chosen.experiment_id, shadow=held
                )
        elif chosen.arm == CHAMPION:
            return Choice(loaded.version, loaded.model, CHAMPION, chosen.experiment_id)
        elif chosen.arm == CHALLENGER and held is not None and held.version == chosen.version:
            return Choice(held.version, held.model, CHALLENGER, chosen.experiment_id)
        return Choice(loaded.version, loaded.model)

    def start(self) -> None:
        for watcher in self.watchers.values():
            watcher.start()
        if self.experiment:
            self.experiment.start()

    def stop(self) -> None:
        for watcher in self.watchers.values():
            watcher.stop()
        if self.experiment:
            self.experiment.stop()
