"""The model side of Runway: data split, candidate training, metrics, tracking, gate, registry.

Importable without Airflow, and cheap to import: torch, XGBoost, LightGBM and MLflow are
imported inside the functions that need them. One module per job:

- `inputs`      the model's input columns, defined once, and the frame every model reads
- `data`        out-of-time train / validation / test split, training-data hash
- `candidates`  `train_candidate(family, ...)`: an Optuna budget around one model family
- `boosters`, `mlp`, `baseline`  the families (XGBoost + LightGBM, PyTorch MLP, logistic regression)
- `metrics`     ROC AUC, PR AUC, log loss, Brier, ECE, per-slice metrics, plots
- `pyfunc`      the MLflow pyfunc wrapper: one `predict(frame)` -> P(delayed) for every family
- `tracking`    `log_candidate`: an MLflow run with metrics, plots, the model, a registry version
- `gate`        `evaluate_gate`: the model gate (pure), and champion-vs-candidate evaluation
- `registry`    aliases: challenger, promote, rollback, champion lookups
"""
