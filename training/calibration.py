"""Calibration: temperature scaling with per-label offsets, and expected calibration error.

Temperature scaling (Guo et al. 2017, arXiv:1706.04599) divides the logits by one number;
the offsets (a bias per label, "vector scaling" restricted to a shared scale) also move the
label priors from the training mix, where every label weighs the same, to the dev split's.
"""

from __future__ import annotations

import itertools

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    log_probs = log_softmax(logits.astype(np.float64) / temperature)
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises NLL on held-out logits.

    NLL is convex in 1/T, so a golden-section search on log T finds the optimum.

    >>> logits = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [4.0, 0.0, 0.0]])
    >>> round(fit_temperature(logits, np.array([0, 1, 1])), 2) > 1   # overconfident -> T > 1
    True
    """
    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, labels, np.exp(a)), nll(logits, labels, np.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2))


# Offsets are fitted only when every label has this many dev rows; with fewer they would
# follow the noise of a handful of comments, and the temperature is fitted alone.
MIN_ROWS_FOR_OFFSETS = 30


def fit_scaling(logits: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    """The temperature and per-label offsets that minimise NLL of ``logits / T + bias``.

    The first label's offset is fixed at 0 (only differences matter). L-BFGS on
    (log T, offsets) with the exact gradient; starts from the best plain temperature.
    Offsets stay 0 when a label has fewer than ``MIN_ROWS_FOR_OFFSETS`` rows.

    >>> logits = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [4.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    >>> fit_scaling(logits, np.array([0, 1, 1, 2]))[1]    # too few rows for offsets
    [0.0, 0.0, 0.0]
    """
    from scipy.optimize import minimize

    if np.bincount(labels, minlength=logits.shape[1]).min() < MIN_ROWS_FOR_OFFSETS:
        return fit_temperature(logits, labels), [0.0] * logits.shape[1]
    x = logits.astype(np.float64)
    onehot = np.eye(x.shape[1])[labels]
    n = len(labels)

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        scale = np.exp(-params[0])
        bias = np.concatenate([[0.0], params[1:]])
        log_probs = log_softmax(x * scale + bias)
        residual = (np.exp(log_probs) - onehot) / n
        grad_log_t = -scale * float((residual * x).sum())
        return float(-(log_probs * onehot).sum() / n), np.concatenate(
            [[grad_log_t], residual.sum(axis=0)[1:]]
        )

    start = np.zeros(x.shape[1])
    start[0] = np.log(fit_temperature(logits, labels))
    found = minimize(objective, start, jac=True, method="L-BFGS-B")
    temperature = float(np.clip(np.exp(found.x[0]), 0.05, 20.0))
    return temperature, [0.0, *(float(b) for b in found.x[1:])]


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> list[dict[str, float]]:
    """Per confidence bin: its bounds, count, mean confidence and accuracy of the top label."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        n = int(in_bin.sum())
        out.append(
            {
                "lower": float(lo),
                "upper": float(hi),
                "count": n,
                "confidence": float(confidence[in_bin].mean()) if n else 0.0,
                "accuracy": float(correct[in_bin].mean()) if n else 0.0,
            }
        )
    return out


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over ``bins`` bins."""
    total = len(labels)
    if total == 0:
        return 0.0
    return float(
        sum(
            b["count"] / total * abs(b["accuracy"] - b["confidence"])
            for b in reliability(probs, labels, bins)
        )
    )
