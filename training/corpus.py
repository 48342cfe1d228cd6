"""Build the committed corpus splits from the writers' files and the independent labels.

Maintainers' tool (see training/data/DATA.md for how the corpus was made)::

    python -m training.corpus --raw RAW_DIR --second SECOND_DIR --adjudicated ADJ_FILE

``RAW_DIR`` holds ``train-*.jsonl`` and ``test-*.jsonl`` writers' files (id, text, label,
industry, channel, hard_case); ``SECOND_DIR`` the blind second labels (id, label) under the
same file names; ``ADJ_FILE`` the adjudicated label of each disagreement (id, label).
Writes train/dev/test JSONL and agreement.json into training/data/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from model.labels import LABELS
from training.data import CORPUS_DIR, iter_jsonl
from training.dedup import near_duplicate_pairs

DEV_FRACTION = 0.15


def cohen_kappa(a: list[str], b: list[str]) -> float:
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in LABELS) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def merge(
    raw: Path, second: Path, adjudicated: dict[str, str]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Rows per split prefix ('train', 'test') with final labels, and agreement statistics."""
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    agreement: dict[str, Any] = {"files": {}}
    for path in sorted(raw.glob("*.jsonl")):
        split = path.stem.split("-")[0]
        rows = list(iter_jsonl(path))
        seconds = {r["id"]: r["label"] for r in iter_jsonl(second / path.name)}
        missing = [r["id"] for r in rows if r["id"] not in seconds]
        if missing:
            raise SystemExit(
                f"{path.name}: no second label for {len(missing)} ids, e.g. {missing[:3]}"
            )
        a = [r["label"] for r in rows]
        b = [seconds[r["id"]] for r in rows]
        for row, second_label in zip(rows, b, strict=True):
            row["writer_label"], row["second_label"] = row.pop("label"), second_label
            if row["writer_label"] == second_label:
                row["label"], row["adjudicated"] = second_label, False
            elif row["id"] in adjudicated:
                row["label"], row["adjudicated"] = adjudicated[row["id"]], True
            else:
                raise SystemExit(
                    f"{path.name}: disagreement on {row['id']} has no adjudicated label"
                )
        agreement["files"][path.name] = {
            "rows": len(rows),
            "agreement": round(sum(x == y for x, y in zip(a, b, strict=True)) / len(rows), 4),
            "cohen_kappa": round(cohen_kappa(a, b), 4),
        }
        splits[split] += rows
    for split, rows in splits.items():
        a = [r["writer_label"] for r in rows]
        b = [r["second_label"] for r in rows]
        agreement[split] = {
            "rows": len(rows),
            "agreement": round(sum(x == y for x, y in zip(a, b, strict=True)) / len(rows), 4),
            "cohen_kappa": round(cohen_kappa(a, b), 4),
            "adjudicated": sum(r["adjudicated"] for r in rows),
            "adjudicated_to": dict(Counter(r["label"] for r in rows if r["adjudicated"])),
        }
    return splits, agreement


def drop_near_duplicates(
    rows: list[dict[str, Any]], others: list[dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows without near-duplicates among themselves (later ones dropped) or of ``others``."""
    texts = [r["text"] for r in rows]
    drop: set[int] = set()
    if others is not None:
        drop |= {i for i, _, _ in near_duplicate_pairs(texts, others=[r["text"] for r in others])}
    for i, j, _ in near_duplicate_pairs(texts):
        if i not in drop:
            drop.add(j)
    return [r for k, r in enumerate(rows) if k not in drop], [rows[k]["id"] for k in sorted(drop)]


def dev_split(
    rows: list[dict[str, Any]], fraction: float = DEV_FRACTION
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A stratified, deterministic dev split by hash of id: ``fraction`` of each label."""
    train, dev = [], []
    for label in LABELS:
        group = sorted(
            (r for r in rows if r["label"] == label),
            key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest(),
        )
        cut = round(len(group) * fraction)
        dev += group[:cut]
        train += group[cut:]
    return sorted(train, key=lambda r: r["id"]), sorted(dev, key=lambda r: r["id"])


FIELDS = (
    "id",
    "text",
    "label",
    "industry",
    "channel",
    "hard_case",
    "writer_label",
    "second_label",
    "adjudicated",
)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({k: row.get(k) for k in FIELDS}, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--second", type=Path, required=True)
    parser.add_argument("--adjudicated", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=CORPUS_DIR)
    args = parser.parse_args()
    adjudicated = (
        {r["id"]: r["label"] for r in iter_jsonl(args.adjudicated)}
        if args.adjudicated.exists()
        else {}
    )
    splits, agreement = merge(args.raw, args.second, adjudicated)
    test, dropped_test = drop_near_duplicates(splits["test"])
    train_all, dropped_train = drop_near_duplicates(splits["train"], others=test)
    train, dev = dev_split(train_all)
    agreement["near_duplicates_dropped"] = {"test": dropped_test, "train": dropped_train}
    for name, rows in (("train", train), ("dev", dev), ("test", test)):
        write_jsonl(args.out / f"{name}.jsonl", rows)
        agreement.setdefault("splits", {})[name] = {
            "rows": len(rows),
            "labels": dict(Counter(r["label"] for r in rows)),
        }
    (args.out / "agreement.json").write_text(json.dumps(agreement, indent=2) + "\n")
    print(json.dumps(agreement, indent=2))


if __name__ == "__main__":
    main()
