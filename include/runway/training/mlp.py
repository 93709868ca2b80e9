"""A PyTorch MLP: embeddings for the categoricals, standardized numerics with median
imputation and missing indicators, early stopping on validation log loss, GPU when present."""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import pandas as pd
import torch  # this module is imported only to train or load the torch family
from torch import nn

from runway.training.inputs import CATEGORICAL, NUMERIC, Vocabulary, labels, model_frame
from runway.training.scorer import Scorer

MAX_EPOCHS = 40
PATIENCE = 3  # epochs without a better validation loss before stopping
CLIP = 5.0  # standardized values are clipped to +-CLIP: heavy tails (counts) stay bounded


@dataclasses.dataclass(frozen=True)
class Numerics:
    """Median imputation, missing indicators and standardization, fitted on training rows."""

    median: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    flagged: np.ndarray  # indices of columns that get a missing indicator

    @classmethod
    def fit(cls, values: np.ndarray) -> Numerics:
        missing = np.isnan(values)
        median = np.nanmedian(np.where(missing.all(axis=0), 0.0, values), axis=0)
        median = np.nan_to_num(median)
        filled = np.where(missing, median, values)
        std = filled.std(axis=0)
        return cls(
            median,
            filled.mean(axis=0),
            np.where(std > 0, std, 1.0),
            np.flatnonzero(missing.any(axis=0)),
        )

    def transform(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        scaled = (np.where(missing, self.median, values) - self.mean) / self.std
        scaled = np.clip(scaled, -CLIP, CLIP)
        return np.hstack([scaled, missing[:, self.flagged].astype("float64")]).astype("float32")

    @property
    def width(self) -> int:
        return len(self.mean) + len(self.flagged)


class DelayMLP(nn.Module):
    def __init__(self, sizes: list[int], width: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.embeddings = nn.ModuleList([nn.Embedding(n, min(16, (n + 1) // 2 + 1)) for n in sizes])
        blocks, inputs = [], width + sum(e.embedding_dim for e in self.embeddings)
        for _ in range(layers):
            blocks += [nn.Linear(inputs, hidden), nn.ReLU(), nn.Dropout(dropout)]
            inputs = hidden
        self.body = nn.Sequential(*blocks, nn.Linear(inputs, 1))

    def forward(self, codes: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        embedded = [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
        return self.body(torch.cat(embedded + [numeric], dim=1)).squeeze(1)


class MLPScorer(Scorer):
    family = "torch"

    def __init__(self, network, vocab: Vocabulary, numerics: Numerics, device: str):
        self.network = network.to("cpu").eval()  # the stored model scores on any machine
        self.vocab = vocab
        self.numerics = numerics
        self.device = device

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:

        inputs = model_frame(frame)
        codes = torch.from_numpy(self.vocab.codes(inputs))
        numeric = torch.from_numpy(self.numerics.transform(inputs[list(NUMERIC)].to_numpy()))
        with torch.no_grad():
            return torch.sigmoid(self.network(codes, numeric)).numpy().astype("float64")


class MLPFamily:
    name = "torch"
    uses_gpu = True

    @staticmethod
    def prepare(train: pd.DataFrame, valid: pd.DataFrame, device: str):

        train_x, valid_x = model_frame(train), model_frame(valid)
        vocab = Vocabulary.fit(train_x, CATEGORICAL)
        numerics = Numerics.fit(train_x[list(NUMERIC)].to_numpy())

        def tensors(x, y):
            return (
                torch.from_numpy(vocab.codes(x)).to(device),
                torch.from_numpy(numerics.transform(x[list(NUMERIC)].to_numpy())).to(device),
                torch.from_numpy(y.astype("float32")).to(device),
            )

        return {
            "vocab": vocab,
            "numerics": numerics,
            "train": tensors(train_x, labels(train)),
            "valid": tensors(valid_x, labels(valid)),
            "device": device,
        }

    @staticmethod
    def suggest(trial) -> dict:
        return {
            "hidden": trial.suggest_int("hidden", 32, 256, log=True),
            "layers": trial.suggest_int("layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024]),
        }

    @staticmethod
    def fit(prepared: dict, params: dict, seed: int, deadline: float, threads: int):
        outer_threads = torch.get_num_threads()
        torch.set_num_threads(threads)  # process-wide in torch: restored below
        try:
            return MLPFamily._fit(prepared, params, seed, deadline)
        finally:
            torch.set_num_threads(outer_threads)

    @staticmethod
    def _fit(prepared: dict, params: dict, seed: int, deadline: float):
        torch.manual_seed(seed)
        device = prepared["device"]
        codes, numeric, y = prepared["train"]
        v_codes, v_numeric, v_y = prepared["valid"]
        network = DelayMLP(
            prepared["vocab"].sizes(),
            prepared["numerics"].width,
            params["hidden"],
            params["layers"],
            params["dropout"],
        ).to(device)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=params["lr"], weight_decay=params["weight_decay"]
        )
        loss_fn = torch.nn.BCEWithLogitsLoss()
        generator = torch.Generator(device="cpu").manual_seed(seed)
        best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
        for epoch in range(1, MAX_EPOCHS + 1):
            network.train()
            order = torch.randperm(len(y), generator=generator).to(device)
            for start in range(0, len(y), params["batch_size"]):
                batch = order[start : start + params["batch_size"]]
                optimizer.zero_grad()
                loss_fn(network(codes[batch], numeric[batch]), y[batch]).backward()
                optimizer.step()
            network.eval()
            with torch.no_grad():
                valid_loss = loss_fn(network(v_codes, v_numeric), v_y).item()
            if valid_loss < best_loss - 1e-5:
                best_loss, best_epoch, stale = valid_loss, epoch, 0
                best_state = copy.deepcopy(network.state_dict())
            else:
                stale += 1
            if stale >= PATIENCE or time.monotonic() > deadline:
                break
        if best_state is not None:  # else no epoch improved on +inf (NaN loss): keep the last
            network.load_state_dict(best_state)
        return MLPScorer(network, prepared["vocab"], prepared["numerics"], device), best_epoch
