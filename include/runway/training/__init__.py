"""The training wing: candidates, the model gate, registration (`training_pipeline`).

Importable without Airflow, and cheap to import: torch, XGBoost, LightGBM and MLflow are
imported inside the functions that need them. One module per job:

- `steps`         what the DAG's tasks call: training_window, build_training_set,
                  train_family, gate_best, promote
- `training_set`  the window's labelled flights with point-in-time features from Feast
- `inputs`        the frame every model reads, and the categorical vocabulary
- `data`          out-of-time train / validation / test split, training-data hash
- `candidates`    `train_candidate(family, ...)`: an Optuna budget around one model family
- `boosters`, `mlp`, `baseline`  the families (XGBoost + LightGBM, PyTorch MLP, logistic regression)
- `scorer`        what every fitted model offers: P(delayed) from a raw frame
- `pyfunc`, `pyfunc_entry`  the MLflow pyfunc wrapper: one `predict(frame)` for every family
- `tracking`      `log_candidate`: an MLflow run with metrics, plots, the model, a registry version
- `gate`          `evaluate_gate`: the model gate (pure), and champion-vs-candidate evaluation
"""
