"""The app's scoring of one call: one model call per model, a failing challenger contained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runway.serving.app import _score


class _Constant:
    def __init__(self, value: float):
        self.value, self.calls = value, 0

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        return np.full(len(frame), self.value)


class _Broken:
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("broken")


def test_each_model_scores_its_rows_once_and_a_fallible_failure_is_returned_not_raised():
    frame = pd.DataFrame({"x": range(5)})
    champion, challenger, broken = _Constant(0.2), _Constant(0.7), _Broken()
    scores, failed = _score(frame, [champion, challenger, champion, challenger, champion])
    assert scores.tolist() == pytest.approx([0.2, 0.7, 0.2, 0.7, 0.2]) and failed == []
    assert (champion.calls, challenger.calls) == (1, 1)
    scores, failed = _score(frame, [champion, broken, champion, broken, champion], {id(broken)})
    assert failed == [1, 3] and np.isnan(scores[failed]).all()
    assert scores[[0, 2, 4]].tolist() == pytest.approx([0.2] * 3)
    with pytest.raises(RuntimeError, match="broken"):  # the champion's failure is the call's
        _score(frame, [broken] * 5, {id(challenger)})
