"""Evaluate a model on a labelled file, beside baselines trained on the same training data."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.classifier import Classifier
from model.labels import LABELS
from training.calibration import expected_calibration_error, reliability
from training.data import Example
from training.metrics import classification_metrics

log = logging.getLogger(__name__)


@dataclass
class Report:
    data_name: str
    model_version: str
    model: dict[str, Any]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    reliability: list[dict[str, float]] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return {"model": self.model, "baselines": self.baselines}

    def render(self) -> str:
        m = self.model
        lines = [
            f"Evaluation of {self.model_version} on {self.data_name} ({m['n']} comments)",
            "",
            f"accuracy  {m['accuracy']:.4f}",
            f"macro-F1  {m['macro_f1']:.4f}",
            f"ECE       {m['ece']:.4f}  (15 bins, calibrated scores)",
            "",
            f"{'label':<12}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
        ]
        for label in LABELS:
            p = m["per_label"][label]
            lines.append(
                f"{label:<12}{p['precision']:>10.4f}{p['recall']:>10.4f}{p['f1']:>10.4f}{p['support']:>10d}"
            )
        lines += [
            "",
            "confusion (rows: labelled, columns: predicted)",
            " " * 13 + "".join(f"{x:>12}" for x in LABELS),
        ]
        for label, row in zip(LABELS, m["confusion"], strict=True):
            lines.append(f"{label:<13}" + "".join(f"{n:>12d}" for n in row))
        if self.baselines:
            lines += ["", f"{'model':<36}{'accuracy':>10}{'macro-F1':>10}"]
            lines.append(f"{'this model':<36}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}")
            for name, b in self.baselines.items():
                lines.append(f"{name:<36}{b['accuracy']:>10.4f}{b['macro_f1']:>10.4f}")
            best = max(b["macro_f1"] for b in self.baselines.values())
            lines.append(f"margin over the best baseline: {m['macro_f1'] - best:+.4f} macro-F1")
        if self.images:
            lines += [""] + [f"wrote {p}" for p in self.images]
        return "\n".join(lines)


def evaluate(
    classifier: Classifier,
    examples: list[Example],
    data_name: str,
    baseline_train: list[Example] | None = None,
    output_dir: Path | None = None,
) -> Report:
    """Score ``examples`` with the classifier (and baselines fit on ``baseline_train``)."""
    gold = np.array([e.label for e in examples])
    texts = [e.text for e in examples]
    probs, _ = classifier.predict_scores(texts)
    metrics = classification_metrics(probs.argmax(1), gold)
    metrics["ece"] = round(expected_calibration_error(probs, gold), 4)
    report = Report(data_name, classifier.version, metrics, reliability=reliability(probs, gold))
    if baseline_train:
        from training.baselines import TfidfBaseline, VaderBaseline

        for baseline in (VaderBaseline(), TfidfBaseline()):
            log.info("fitting baseline %s on %d comments", baseline.name, len(baseline_train))
            baseline.fit(baseline_train)
            report.baselines[baseline.name] = classification_metrics(baseline.predict(texts), gold)
    if output_dir:
        from training.plots import confusion_png, reliability_png

        output_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(data_name).stem
        confusion_path = output_dir / f"confusion-{stem}.png"
        reliability_path = output_dir / f"reliability-{stem}.png"
        title = f"{classifier.version} on {data_name}"
        confusion_png(metrics["confusion"], confusion_path, title)
        reliability_png(report.reliability, metrics["ece"], reliability_path, title)
        report.images = [confusion_path, reliability_path]
    return report
