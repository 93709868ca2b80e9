"""The design: O'Brien-Fleming boundaries against the published table, the power plan."""

from __future__ import annotations

import math

import pytest

from runway.experiments import design


def test_boundaries_match_the_published_lan_demets_obrien_fleming_table():
    # Jennison & Turnbull (2000) / gsDesign sfLDOF: 5 equally spaced looks, one-sided 0.025
    bounds = design.boundaries((0.2, 0.4, 0.6, 0.8, 1.0), 0.025)
    assert bounds == pytest.approx((4.877, 3.357, 2.680, 2.290, 2.031), abs=2e-3)


def test_spending_reaches_alpha_at_the_end_and_a_prefix_keeps_its_boundaries():
    assert design.obf_spending(1.0, 0.05) == pytest.approx(0.05)
    assert design.obf_spending(0.1, 0.05) < 1e-5
    looks = tuple(k / 20 for k in range(5, 21))
    full = design.boundaries(looks, 0.05)
    assert design.boundaries(looks[:7], 0.05) == full[:7]
    assert all(a > b for a, b in zip(full, full[1:], strict=False))  # early looks need more
    assert full[-1] > 1.645  # the last look pays a little for the earlier ones


def test_fractions_must_rise_within_one():
    with pytest.raises(ValueError, match="must rise"):
        design.boundaries((0.5, 0.4), 0.05)
    with pytest.raises(ValueError, match="must rise"):
        design.boundaries((0.5, 1.2), 0.05)


def test_the_plan_needs_more_days_for_a_smaller_margin_or_share():
    base = dict(auc=0.70, rate=0.25, flights_per_day=900, alpha=0.05, power=0.8)
    ab = design.planned_days(share=0.5, margin=0.03, **base)
    assert ab["method"].startswith("statsmodels") and ab["days"] >= 2
    assert design.planned_days(share=0.5, margin=0.015, **base)["days"] > 3 * ab["days"]
    assert design.planned_days(share=0.1, margin=0.03, **base)["days"] > ab["days"]
    assert design.planned_days(share=1.0, margin=0.03, **base)["days"] < ab["days"]  # shadow
    # Hanley-McNeil: an AUC of 0.5 on a balanced sample has sd sqrt(1/3) per sqrt(flight)
    assert design.auc_sd(0.5, 0.5) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="baseline AUC"):
        design.auc_sd(1.2, 0.25)
