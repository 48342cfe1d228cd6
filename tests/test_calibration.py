from __future__ import annotations

import numpy as np
import pytest

from training.calibration import (
    expected_calibration_error,
    fit_scaling,
    fit_temperature,
    reliability,
)
from training.metrics import classification_metrics


def sample(
    n: int, temperature: float, seed: int = 0, bias: tuple[float, ...] = (0.0, 0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(logits / temperature + bias)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(n, 3))
    z = logits / temperature + np.array(bias)
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    return logits, labels


def test_temperature_recovers_the_true_one() -> None:
    logits, labels = sample(20000, temperature=2.5)
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.06)


def test_scaling_recovers_the_true_temperature_and_offsets() -> None:
    logits, labels = sample(20000, temperature=1.8, seed=2, bias=(0.3, 0.0, 1.1))
    temperature, bias = fit_scaling(logits, labels)
    assert temperature == pytest.approx(1.8, rel=0.06)
    assert bias[0] == 0.0
    # Only differences between offsets matter: the truth relative to the first label.
    assert bias[1:] == pytest.approx([-0.3, 0.8], abs=0.1)


def test_scaling_without_a_prior_shift_finds_offsets_near_zero() -> None:
    logits, labels = sample(20000, temperature=2.5, seed=3)
    temperature, bias = fit_scaling(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.06)
    assert bias == pytest.approx([0.0, 0.0, 0.0], abs=0.08)


def test_too_few_rows_of_a_label_fit_the_temperature_alone() -> None:
    logits, labels = sample(2000, temperature=1.5, seed=4, bias=(0.0, 0.0, 1.0))
    few = np.concatenate([np.flatnonzero(labels != 0), np.flatnonzero(labels == 0)[:29]])
    temperature, bias = fit_scaling(logits[few], labels[few])
    assert bias == [0.0, 0.0, 0.0]
    assert temperature == fit_temperature(logits[few], labels[few])


def test_ece_is_small_for_calibrated_and_large_for_overconfident_scores() -> None:
    logits, labels = sample(20000, temperature=1.0, seed=1)
    calibrated = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sharp = np.exp(logits * 4) / np.exp(logits * 4).sum(1, keepdims=True)
    assert expected_calibration_error(calibrated, labels) < 0.02
    assert expected_calibration_error(sharp, labels) > 0.1


def test_reliability_bins_count_every_row() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.2, 0.7, 0.1]])
    bins = reliability(probs, np.array([0, 1, 1]), bins=10)
    assert sum(b["count"] for b in bins) == 3
    assert next(b for b in bins if b["count"])["accuracy"] == 0.0  # the 0.4 row was wrong


def test_metrics_exact() -> None:
    m = classification_metrics(np.array([0, 0, 1, 2, 2, 1]), np.array([0, 1, 1, 2, 2, 2]))
    assert m["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 1, 2]]
    assert m["accuracy"] == 0.6667
    assert m["per_label"]["poor"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}
    assert m["macro_f1"] == round((0.6667 + 0.5 + 0.8) / 3, 4)
