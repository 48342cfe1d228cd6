"""Labelled comments: the built-in corpus and users' own CSV, JSONL or Parquet files.

Every organisation defines "outstanding" its own way, so a user's file is read with the
same care as the built-in corpus, and a bad file fails with a message that says what to fix.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import FeedbackError
from model.labels import LABEL2ID, LABELS

CORPUS_DIR = Path(__file__).parent / "data"
FORMATS = ("csv", "jsonl", "parquet")
MIN_PER_CLASS = 10
MAX_LISTED = 10


class DataError(FeedbackError):
    """A labelled file cannot be used for training or evaluation."""


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    weight: float = 1.0
    source: str = ""


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("json", "ndjson"):
        suffix = "jsonl"
    if suffix == "pq":
        suffix = "parquet"
    if suffix not in FORMATS:
        raise DataError(
            f"cannot tell the format of {path.name} from its extension; "
            f"use .csv, .jsonl or .parquet, or pass --format"
        )
    return suffix


def read_records(path: Path, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns found and rows, as plain dicts, from a CSV, JSONL or Parquet file."""
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    if fmt == "jsonl":
        rows = []
        columns: dict[str, None] = {}
        with open(path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{path.name} line {lineno} is not valid JSON: {exc.msg}"
                    ) from exc
                if not isinstance(row, dict):
                    raise DataError(f"{path.name} line {lineno} is not a JSON object")
                columns.update(dict.fromkeys(row))
                rows.append(row)
        return list(columns), rows
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise DataError(f"{path.name} is not a readable Parquet file: {exc}") from exc
    return list(table.column_names), table.to_pylist()


def _rows_list(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_LISTED])
    return shown + (f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else "")


def load_labelled(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    fmt: str | None = None,
    min_per_class: int = MIN_PER_CLASS,
) -> list[Example]:
    """Read a labelled file and check it; row numbers in errors count data rows from 1.

    >>> load_labelled("my_labels.csv", text_column="comment")   # doctest: +SKIP
    [Example(text='Sorted in 5 min, thanks', label=1, weight=1.0, source='my_labels.csv'), ...]
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labelled file {path} does not exist")
    columns, rows = read_records(path, detect_format(path, fmt))
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        raise DataError(
            f"{path.name}: expected columns {[text_column, label_column]}, found {columns}; "
            "pass --text-column / --label-column to name yours"
        )
    unknown: dict[str, list[int]] = defaultdict(list)
    empty: list[int] = []
    examples = []
    for rownum, row in enumerate(rows, start=1):
        text, raw_label = row.get(text_column), row.get(label_column)
        label = str(raw_label).strip().lower() if raw_label is not None else ""
        if label not in LABEL2ID:
            unknown[str(raw_label)].append(rownum)
        if not isinstance(text, str) or not text.strip():
            empty.append(rownum)
        if label in LABEL2ID and isinstance(text, str) and text.strip():
            examples.append(Example(text.strip(), LABEL2ID[label], 1.0, path.name))
    problems = []
    if unknown:
        listed = "; ".join(f"{lab!r} in rows {_rows_list(r)}" for lab, r in unknown.items())
        problems.append(f"unknown labels (expected one of {', '.join(LABELS)}): {listed}")
    if empty:
        problems.append(f"empty texts in rows {_rows_list(empty)}")
    if problems:
        raise DataError(f"{path.name}: " + "; ".join(problems))
    counts = Counter(e.label for e in examples)
    few = {
        LABELS[i]: counts.get(i, 0) for i in range(len(LABELS)) if counts.get(i, 0) < min_per_class
    }
    if few:
        raise DataError(
            f"{path.name}: too few examples of {', '.join(f'{k} ({v})' for k, v in few.items())}; "
            f"each label needs at least {min_per_class}"
        )
    return examples


def load_corpus(split: str) -> list[Example]:
    """The built-in corpus split ``train``, ``dev`` or ``test`` (see training/data/DATA.md)."""
    path = CORPUS_DIR / f"{split}.jsonl"
    return [
        Example(e.text, e.label, 1.0, f"corpus-{split}")
        for e in load_labelled(path, fmt="jsonl", min_per_class=1)
    ]


def stratified_split(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Split off ``fraction`` of each label, deterministically by content hash and seed."""

    def key(e: Example) -> str:
        return hashlib.sha256(f"{seed}:{e.text}".encode()).hexdigest()

    keep, held = [], []
    for label in range(len(LABELS)):
        group = sorted((e for e in examples if e.label == label), key=key)
        n_held = max(1, round(len(group) * fraction)) if group else 0
        held += group[:n_held]
        keep += group[n_held:]
    return keep, held


def hash_examples(examples: Iterable[Example]) -> str:
    """A sha256 over texts, labels and weights, recorded in the artifact."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(f"{e.label}\t{e.weight:.4f}\t{e.text}\n".encode())
    return digest.hexdigest()


def label_counts(examples: Iterable[Example]) -> dict[str, int]:
    counts = Counter(e.label for e in examples)
    return {label: counts.get(i, 0) for i, label in enumerate(LABELS)}


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
