"""Classification metrics: accuracy, macro-F1, per-label precision/recall/F1, confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.labels import LABELS


def classification_metrics(predicted: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    """Metrics over the three labels; the confusion matrix has gold rows and predicted columns.

    >>> classification_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 1]))["accuracy"]
    0.75
    """
    k = len(LABELS)
    confusion = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        confusion[int(g), int(p)] += 1
    per_label = {}
    for i, label in enumerate(LABELS):
        tp = confusion[i, i]
        precision = tp / confusion[:, i].sum() if confusion[:, i].sum() else 0.0
        recall = tp / confusion[i].sum() if confusion[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(confusion[i].sum()),
        }
    total = int(confusion.sum())
    return {
        "n": total,
        "accuracy": round(float(np.trace(confusion) / total), 4) if total else 0.0,
        "macro_f1": round(float(np.mean([v["f1"] for v in per_label.values()])), 4),
        "per_label": per_label,
        "confusion": confusion.tolist(),
    }
