"""Weakly labelled NHS Friends and Family Test comments (../shared/data/nhs-fft, MIT licence).

The files carry scores, not our labels; their mapping to poor/good/outstanding is noisy
(see the data's README). We measured it: 1,500 comments of the training pool were
labelled by hand, twice and blind, by our guide (``training/data/nhs-train.jsonl`` and
``nhs-dev.jsonl``, DATA.md). How often each score matched the agreed hand label set the
mapping and the weights below:

- phase1 ``criticality``: <= -3 -> poor (91% matched); -2 -> poor (73%); 1..3 -> good
  (94%). 4..5 are dropped: 65% good, 34% outstanding, warm praise that our guide mostly
  calls good but not reliably either; -1 and 0 (suggestions, unscored) are dropped, so
  are "nothing to improve" answers; junk values are counted.
- v6 ``Comment sentiment``: 4..5 -> poor (98%); 2 -> good (93%). 1 (84% good, 16%
  outstanding) and 3 (mixed) are dropped, like blanks.

No score maps to outstanding, and mapping the most positive scores to good trained a
worse model on the real-comment dev split (macro-F1 0.773 against 0.787 without them).
Real outstanding comments enter training through the hand-labelled set.

Two samples of these comments were also labelled by hand, twice and blind (see DATA.md):
a test split of real comments (``training/data/nhs-test.jsonl``) and a training set
(``training/data/nhs-train.jsonl``). Those files hold a hash of each comment and its
labels, never the text: :func:`load_nhs_reference` reads the text from the NHS files.
Training leaves the test comments out, and takes the hand labels over the weak ones.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from model.labels import LABEL2ID
from training.data import CORPUS_DIR, DataError, Example, iter_jsonl

log = logging.getLogger(__name__)

PHASE1_FILE = "phase1_text_data.csv"
V6_FILE = "v6framework_230831.csv"
TEST_FILE = CORPUS_DIR / "nhs-test.jsonl"
HAND_FILE = CORPUS_DIR / "nhs-train.jsonl"
HAND_DEV_FILE = CORPUS_DIR / "nhs-dev.jsonl"

# Answers to "what could be improved?" that carry no judgement of the service.
NOTHING = re.compile(
    r"^\W*(no+|none|nothing|nil|n/?a|na|not really|no comment|no comments|nothing (at all|really|"
    r"at present|to add|else|to improve|i can think of)|can'?t think of anything|"
    r"did not answer|not applicable|-+)\W*$",
    re.IGNORECASE,
)

# Score -> (label, weight of the comment relative to a hand-labelled one, 1.0).
PHASE1_MAP = {
    **dict.fromkeys(range(-5, -2), ("poor", 0.6)),
    -2: ("poor", 0.35),
    **dict.fromkeys(range(1, 4), ("good", 0.5)),
}
V6_MAP = {"5": ("poor", 0.6), "4": ("poor", 0.6), "2": ("good", 0.5)}


@dataclass
class NhsReport:
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        kept = ", ".join(f"{k} {v}" for k, v in sorted(self.kept.items()))
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
        return f"NHS FFT: kept {kept}; dropped {dropped}"


def comment_key(text: str) -> str:
    """The identity of a comment across both files: lower case, runs of spaces as one."""
    return " ".join(text.lower().split())


def comment_hash(text: str) -> str:
    return hashlib.sha256(comment_key(text).encode()).hexdigest()


def _check_folder(folder: Path) -> None:
    for name in (PHASE1_FILE, V6_FILE):
        if not (folder / name).is_file():
            raise DataError(
                f"NHS data folder {folder} has no {name} (expected ../shared/data/nhs-fft)"
            )


def _all_comments(folder: Path) -> dict[str, str]:
    """Every comment of both files by :func:`comment_hash`, as first written."""
    texts: dict[str, str] = {}
    for name, column in ((PHASE1_FILE, "feedback"), (V6_FILE, "FFT answer")):
        with open(folder / name, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                text = (row.get(column) or "").strip()
                if text:
                    texts.setdefault(comment_hash(text), text)
    return texts


def held_out_hashes(path: Path | None = None) -> set[str]:
    """Hashes of the hand-labelled test comments, which training must not see."""
    path = path or TEST_FILE
    return {row["nhs_sha256"] for row in iter_jsonl(path)} if path.is_file() else set()


def is_nhs_reference(path: Path) -> bool:
    """Whether a labelled file names NHS comments by hash instead of holding their text."""
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
    return '"nhs_sha256"' in first


def load_nhs_reference(
    folder: str | Path, path: str | Path, source: str, texts: dict[str, str] | None = None
) -> list[Example]:
    """Hand-labelled NHS comments: labels from ``path``, texts from the NHS files.

    ``texts`` is :func:`_all_comments` of ``folder`` when the caller has read it already.
    """
    folder, path = Path(folder), Path(path)
    if texts is None:
        _check_folder(folder)
        texts = _all_comments(folder)
    examples, missing = [], []
    for rownum, row in enumerate(iter_jsonl(path), start=1):
        text = texts.get(row["nhs_sha256"])
        if text is None:
            missing.append(rownum)
            continue
        examples.append(Example(text, LABEL2ID[row["label"]], 1.0, source))
    if missing:
        rows = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        what = (
            f"1 comment (row {rows}) is"
            if len(missing) == 1
            else f"{len(missing)} comments (rows {rows}) are"
        )
        raise DataError(
            f"{path.name}: {what} not in {folder}; "
            "the NHS files differ from the ones the split was labelled on"
        )
    return examples


def load_nhs_test(folder: str | Path, path: str | Path | None = None) -> list[Example]:
    """The hand-labelled test split of real comments."""
    return load_nhs_reference(folder, path or TEST_FILE, "nhs-test")


def load_nhs_hand(folder: str | Path) -> tuple[list[Example], list[Example]]:
    """Hand-labelled real comments for training and for the dev split (none in the test)."""

    if not (HAND_FILE.is_file() or HAND_DEV_FILE.is_file()):
        return [], []
    folder = Path(folder)
    _check_folder(folder)
    texts = _all_comments(folder)  # both files resolve against one read of the NHS files

    def read(path: Path, source: str) -> list[Example]:
        return load_nhs_reference(folder, path, source, texts) if path.is_file() else []

    return read(HAND_FILE, "nhs-hand"), read(HAND_DEV_FILE, "nhs-hand-dev")


def load_nhs(folder: str | Path, weight_scale: float = 1.0) -> tuple[list[Example], NhsReport]:
    """Weakly labelled examples from both NHS files in ``folder``, one per distinct comment."""
    folder = Path(folder)
    _check_folder(folder)
    report = NhsReport()
    seen: set[str] = set()
    examples: list[Example] = []

    def add(text: str, label: str, weight: float, source: str) -> None:
        key = comment_key(text)
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
            mapped = PHASE1_MAP.get(int(score))
            if mapped is None:
                report.dropped[f"phase1 criticality {score}"] += 1
            elif not text or NOTHING.match(text):
                report.dropped["phase1 says nothing"] += 1
            else:
                add(text, *mapped, "nhs-phase1")

    with open(folder / V6_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("FFT answer") or "").strip()
            mapped = V6_MAP.get((row.get("Comment sentiment") or "").strip())
            if mapped is None:
                report.dropped["v6 sentiment 1, 3 or blank"] += 1
            elif not text or NOTHING.match(text):
                report.dropped["v6 says nothing"] += 1
            else:
                add(text, *mapped, "nhs-v6")
    log.info(report.summary())
    return examples, report
