"""Online serving: tomorrow's flights answered over HTTP from Feast's online store and the
model behind the registry's `champion` alias, by the same rules as batch scoring.

Rooms:
- `app`: the FastAPI app (`POST /v1/predictions`, `/healthz`, `/readyz`, `/metrics`);
- `requests`: what a call may ask, and the refusals that name the field;
- `vocabulary`: the carriers, airports and routes of the schedule (distances);
- `online`: the flights' features read from the online store with the offline join's rules
  (TTL per view, nothing newer than the prediction time);
- `models`: the loaded model versions, swapped by a poller when an alias moves, and `choose`,
  the one place that picks the model answering a flight;
- `served_log`: the batched writer of `served_predictions`;
- `telemetry`: Prometheus metrics (multiprocess mode under several workers);
- `auth`: the installation's bearer key;
- `gunicorn_conf`: the process manager's hooks; `steps`: what `make serve` and the demo call.
"""
