"""The evaluation report's pictures: a confusion matrix and a reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from model.labels import LABELS


def confusion_png(confusion: list[list[int]], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("labelled")
    ax.set_title(title, fontsize=10)
    peak = max(max(row) for row in confusion) or 1
    for i, row in enumerate(confusion):
        for j, n in enumerate(row):
            ax.text(
                j, i, str(n), ha="center", va="center", color="white" if n > peak / 2 else "black"
            )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reliability_png(bins: list[dict[str, Any]], ece: float, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    used = [b for b in bins if b["count"]]
    width = bins[0]["upper"] - bins[0]["lower"]
    ax.bar(
        [b["lower"] for b in used],
        [b["accuracy"] for b in used],
        width=width,
        align="edge",
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(
        [b["confidence"] for b in used],
        [b["accuracy"] for b in used],
        "o",
        color="black",
        markersize=3,
        label="mean confidence",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of the top label")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE {ece:.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
