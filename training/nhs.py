"""Weakly labelled NHS Friends and Family Test comments (../shared/data/nhs-fft, MIT licence).

The files carry scores, not our labels; their mapping to poor/good/outstanding is noisy
(see the data's README). Each mapped comment gets a weight that reflects how often that
score matched our guide in a hand reading, and the worst-fitting scores are left out:

- phase1 ``criticality``: <= -2 -> poor; 1..3 -> good, except "nothing to improve"
  answers that say nothing about service; 4..5 -> outstanding ("second to none", but
  also plain "excellent care", which our guide calls good, hence a low weight);
  -1 (mostly suggestions) and 0 (unscored) are dropped, junk values are counted.
- v6 ``Comment sentiment``: 4..5 -> poor, 2 -> good; 1 (only about 45% outstanding by
  our guide) and 3 (mixed) are dropped.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from model.labels import LABEL2ID
from training.data import DataError, Example

log = logging.getLogger(__name__)

PHASE1_FILE = "phase1_text_data.csv"
V6_FILE = "v6framework_230831.csv"

# Answers to "what could be improved?" that carry no judgement of the service.
NOTHING = re.compile(
    r"^\W*(no+|none|nothing|nil|n/?a|na|not really|no comment|no comments|nothing (at all|really|"
    r"at present|to add|else|to improve|i can think of)|can'?t think of anything|"
    r"did not answer|not applicable|-+)\W*$",
    re.IGNORECASE,
)

# Weight of a weakly labelled comment relative to a hand-labelled one (1.0).
PHASE1_WEIGHTS = {"poor": 0.5, "good": 0.4, "outstanding": 0.25}
V6_WEIGHTS = {"poor": 0.5, "good": 0.35}


@dataclass
class NhsReport:
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        kept = ", ".join(f"{k} {v}" for k, v in sorted(self.kept.items()))
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
        return f"NHS FFT: kept {kept}; dropped {dropped}"


def _phase1_label(score: str) -> str | None:
    value = int(score)
    if value <= -2:
        return "poor"
    if 1 <= value <= 3:
        return "good"
    if value >= 4:
        return "outstanding"
    return None  # -1: mostly suggestions; 0: unscored


def load_nhs(folder: str | Path, weight_scale: float = 1.0) -> tuple[list[Example], NhsReport]:
    """Weakly labelled examples from both NHS files in ``folder``, one per distinct comment."""
    folder = Path(folder)
    for name in (PHASE1_FILE, V6_FILE):
        if not (folder / name).is_file():
            raise DataError(
                f"NHS data folder {folder} has no {name} (expected ../shared/data/nhs-fft)"
            )
    report = NhsReport()
    seen: set[str] = set()
    examples: list[Example] = []

    def add(text: str, label: str, weight: float, source: str) -> None:
        key = " ".join(text.lower().split())
        if key in seen:
            report.dropped["duplicate"] += 1
            return
        seen.add(key)
        report.kept[f"{source}:{label}"] += 1
        examples.append(Example(text, LABEL2ID[label], round(weight * weight_scale, 4), source))

    with open(folder / PHASE1_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("feedback") or "").strip()
            score = (row.get("criticality") or "").strip()
            if not re.fullmatch(r"-?\d+", score) or not -5 <= int(score) <= 5:
                report.dropped["phase1 junk criticality"] += 1
                continue
            label = _phase1_label(score)
            if label is None:
                report.dropped[f"phase1 criticality {score}"] += 1
            elif not text or NOTHING.match(text):
                report.dropped["phase1 says nothing"] += 1
            else:
                add(text, label, PHASE1_WEIGHTS[label], "nhs-phase1")

    v6_labels = {"4": "poor", "5": "poor", "2": "good"}
    with open(folder / V6_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("FFT answer") or "").strip()
            label = v6_labels.get((row.get("Comment sentiment") or "").strip())
            if label is None:
                report.dropped["v6 sentiment 1, 3 or blank"] += 1
            elif not text or NOTHING.match(text):
                report.dropped["v6 says nothing"] += 1
            else:
                add(text, label, V6_WEIGHTS[label], "nhs-v6")
    log.info(report.summary())
    return examples, report
