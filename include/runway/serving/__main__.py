"""`python -m runway.serving`: the service in the foreground (make serve, the compose service)."""

from runway.serving import steps
from runway.settings import load_settings

raise SystemExit(steps.serve(load_settings()))
