"""Build a hand-labelled NHS file (labels and hashes, no text) from two blind labellings.

Maintainers' tool (see training/data/DATA.md)::

    python -m training.nhs_corpus --name test --sample SAMPLE.jsonl \\
        --labels A-1.jsonl A-2.jsonl --labels B-1.jsonl B-2.jsonl --adjudicated ADJ.jsonl

``SAMPLE`` holds the sampled comments (id, sha256 of :func:`training.nhs.comment_key`,
text); each ``--labels`` pair two independent labellings of a part of it (id, label,
unsure); ``ADJ`` the adjudicated label of each disagreement (id, label). Writes
``training/data/nhs-NAME.jsonl`` (and with ``--dev-name dev`` a stratified third of the rows
as ``nhs-dev.jsonl``) and the agreement into ``training/data/nhs-agreement.json``.
The comments' text stays in the NHS files: it is never written here.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from training.corpus import cohen_kappa, dev_split
from training.data import CORPUS_DIR, iter_jsonl


def merge(
    sample: Path, pairs: list[list[Path]], adjudicated: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    hashes = {r["id"]: r["sha256"] for r in iter_jsonl(sample)}
    rows: list[dict[str, Any]] = []
    for first_path, second_path in pairs:
        first, second = list(iter_jsonl(first_path)), list(iter_jsonl(second_path))
        if [r["id"] for r in first] != [r["id"] for r in second]:
            raise SystemExit(f"{first_path.name} and {second_path.name} label different ids")
        for a, b in zip(first, second, strict=True):
            if a["label"] == b["label"]:
                label, adjudicated_ = a["label"], False
            elif a["id"] in adjudicated:
                label, adjudicated_ = adjudicated[a["id"]], True
            else:
                raise SystemExit(f"disagreement on {a['id']} has no adjudicated label")
            rows.append(
                {
                    "id": a["id"],
                    "nhs_sha256": hashes[a["id"]],
                    "label": label,
                    "first_label": a["label"],
                    "second_label": b["label"],
                    "adjudicated": adjudicated_,
                    "unsure": int(a.get("unsure", False)) + int(b.get("unsure", False)),
                }
            )
    if len({r["nhs_sha256"] for r in rows}) != len(rows):
        raise SystemExit("a comment appears twice")
    first_labels = [r["first_label"] for r in rows]
    second_labels = [r["second_label"] for r in rows]
    agreement = {
        "rows": len(rows),
        "agreement": round(
            sum(x == y for x, y in zip(first_labels, second_labels, strict=True)) / len(rows), 4
        ),
        "cohen_kappa": round(cohen_kappa(first_labels, second_labels), 4),
        "adjudicated": sum(r["adjudicated"] for r in rows),
        "labels": dict(Counter(r["label"] for r in rows)),
        "marked_unsure_by_a_labeller": sum(r["unsure"] > 0 for r in rows),
    }
    return sorted(rows, key=lambda r: r["id"]), agreement


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", required=True, help="test or train")
    parser.add_argument("--sample", type=Path, required=True)
    parser.add_argument("--labels", type=Path, nargs=2, action="append", required=True)
    parser.add_argument("--adjudicated", type=Path, required=True)
    parser.add_argument(
        "--dev-name",
        help="Also write this share of the rows (--dev-fraction), stratified, as nhs-DEV_NAME",
    )
    parser.add_argument("--dev-fraction", type=float, default=1 / 3)
    parser.add_argument("--out", type=Path, default=CORPUS_DIR)
    args = parser.parse_args()
    adjudicated = {r["id"]: r["label"] for r in iter_jsonl(args.adjudicated)}
    rows, agreement = merge(args.sample, args.labels, adjudicated)
    parts = {args.name: rows}
    if args.dev_name:
        parts[args.name], parts[args.dev_name] = dev_split(rows, args.dev_fraction)
    for name, part in parts.items():
        with open(args.out / f"nhs-{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in part:
                handle.write(json.dumps(row) + "\n")
        agreement.setdefault("files", {})[f"nhs-{name}.jsonl"] = {
            "rows": len(part),
            "labels": dict(Counter(r["label"] for r in part)),
        }
    record_path = args.out / "nhs-agreement.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    record[args.name] = agreement
    record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(json.dumps(agreement, indent=2))


if __name__ == "__main__":
    main()
