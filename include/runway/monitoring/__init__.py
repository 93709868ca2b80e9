"""The monitoring wing: is the champion still fit, and should it be retrained (`model_monitoring`).

- `steps`     what the DAG's tasks call: monitor, decide_retraining
- `drift`     data drift (Evidently), prediction drift, realized performance, metric rows
- `decision`  the retraining decision: one function of the monitoring history
"""
