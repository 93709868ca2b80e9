"""Entry point of one contender's subprocess: `python -m bench.child '<json spec>'`.

The spec names `module:function` and its keyword arguments; the function returns a dict of
JSON-serialisable figures. This process adds its own peak resident set and writes the result
to the path the spec names (stdout stays free for the libraries' chatter).
"""

from __future__ import annotations

import importlib
import json
import logging
import resource
import sys
import time
import warnings


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    spec = json.loads(argv[0])
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    module, name = spec["fn"].split(":")
    fn = getattr(importlib.import_module(module), name)
    result = fn(**spec["kwargs"])
    result = dict(result or {})
    result.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    result["children_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    result["child_wall_s"] = time.perf_counter() - started
    with open(spec["result"], "w") as handle:
        json.dump(result, handle, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
