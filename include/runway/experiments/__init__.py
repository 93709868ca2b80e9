"""The experiments wing: online A/B tests, canaries and shadows decided on realized outcomes
(`online_experiment`, `experiment_control`).

- `steps`       what the DAGs' tasks call: start_experiment, stop_experiment, evaluate
- `record`      the experiment record in the SQL store: create, stop, record a decision
- `assignment`  the sticky arm of a flight: a hash of the salt and the flight key
- `design`      the planned length (power) and the daily looks' O'Brien-Fleming boundaries
- `decision`    `decide(...)`: guardrails, the test fit for the mode, the action (pure)
- `report`      the HTML report: the arms over time, the interval of the difference
"""
