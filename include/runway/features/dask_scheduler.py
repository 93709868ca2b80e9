"""The Dask cluster Beam's DaskRunner runs the feature job on: is it there, and has it workers?

Beam's DaskRunner hands the job to whatever scheduler `--dask_client_address` names. Left to
itself it fails on an unreachable scheduler with a bare connect timeout deep in a traceback,
and on a scheduler without workers it waits forever. `check_scheduler` asks first, within a
deadline, and says which of the two is wrong and what to start.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class DaskSchedulerError(ConnectionError):
    """The Dask scheduler is unreachable, or has no worker; the message names the address."""


def check_scheduler(address: str, timeout_s: float) -> dict[str, str]:
    """Connect to the scheduler at `address` and wait up to `timeout_s` for one worker.

    Returns the workers it has (worker address -> worker name)."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise DaskSchedulerError(
            f"the Dask scheduler at {address} is unreachable ({err}): start one "
            f"(`dask scheduler --port <port>`) or correct RUNWAY_DASK_SCHEDULER "
            f"(--dask_client_address)"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except TimeoutError:
            raise DaskSchedulerError(
                f"the Dask scheduler at {address} has no worker after {timeout_s} s: start "
                f"`dask worker {address}` where the raw and feature folders are mounted"
            ) from None
        workers = client.scheduler_info(n_workers=-1)["workers"]
    found = {worker: str(info.get("name", worker)) for worker, info in workers.items()}
    log.info("Dask scheduler %s: %d worker(s) %s", address, len(found), sorted(found.values()))
    return found
