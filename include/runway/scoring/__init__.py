"""The scoring wing: tomorrow's scheduled flights scored by the champion (`batch_scoring`).

- `steps`  what the DAG's task calls: score
- `batch`  the schedule of a day, the models behind the aliases, scoring and upserting into
           `predictions`, the scored frames monitoring reads
"""
