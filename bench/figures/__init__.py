"""One module per figure of issue 6; each offers `run(ctx) -> Figure` and its child bodies."""
