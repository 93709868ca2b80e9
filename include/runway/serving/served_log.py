"""`served_predictions` written in batches by a background thread, nothing lost on a stop.

A request hands its rows to `add` (a queue put: no I/O on the request's path). The writer
upserts them by `sql.SERVED_KEY` every `flush_seconds` or `batch_rows` rows; a failed
write keeps the rows and retries at the next flush. `stop` writes what is left before it
returns, which the app's shutdown (a graceful stop of the worker) waits for.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from runway import sql

log = logging.getLogger(__name__)
_STOP = object()


class ServedLog:
    def __init__(
        self,
        sql_url: str,
        *,
        batch_rows: int,
        flush_seconds: float,
        on_write: Callable[[int, bool], None] | None = None,
    ):
        self.engine = sql.engine(sql_url)
        sql.ensure_tables(self.engine)
        self.batch_rows, self.flush_seconds = batch_rows, flush_seconds
        self.on_write = on_write  # (rows, ok): the metrics
        self.written = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="served-log", daemon=True)
        self._thread.start()

    def add(self, rows: list[dict]) -> None:
        self._queue.put(rows)

    def _write(self, pending: list[dict]) -> bool:
        try:
            sql.upsert(self.engine, sql.served_predictions, pending)
        except Exception as err:
            log.warning("served_predictions: %d rows not written yet (%s)", len(pending), err)
            if self.on_write:
                self.on_write(len(pending), False)
            return False
        self.written += len(pending)
        if self.on_write:
            self.on_write(len(pending), True)
        return True

    def _run(self) -> None:
        pending: list[dict] = []
        deadline = time.monotonic() + self.flush_seconds
        stopping = False
        while True:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
                if item is _STOP:
                    stopping = True
                else:
                    pending.extend(item)
            except queue.Empty:
                pass
            if stopping:  # take what was queued before the stop too
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        pending.extend(item)
            due = time.monotonic() >= deadline or len(pending) >= self.batch_rows
            if pending and (due or stopping):
                rows = _unique(pending)
                if self._write(rows):
                    pending = []
                elif stopping:
                    time.sleep(0.5)
                    if not self._write(rows):  # one retry, then say what is lost
                        log.error("served_predictions: %d rows lost at stop", len(rows))
                    pending = []
            if due:
                deadline = time.monotonic() + self.flush_seconds
            if stopping and not pending:
                return

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything added so far, then end the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout=timeout)


def _unique(rows: list[dict]) -> list[dict]:
    """The rows by primary key, the last of a repeated one kept (an upsert takes one)."""
    return list({tuple(r[k] for k in sql.SERVED_KEY): r for r in rows}.values())
