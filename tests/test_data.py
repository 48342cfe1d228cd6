"""Reading users' labelled files: formats, column options and the errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.labels import LABEL2ID
from training.data import DataError, load_labelled, stratified_split
from training.nhs import load_nhs

ROWS = [
    (f"comment number {i}", label) for i, label in enumerate(["poor", "good", "outstanding"] * 4)
]


def write(
    path: Path, rows: list[tuple[object, object]], text: str = "text", label: str = "label"
) -> Path:
    if path.suffix == ".csv":
        import csv

        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([text, label])
            writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({text: t, label: lab}) + "\n" for t, lab in rows))
    else:
        pq.write_table(
            pa.table({text: [t for t, _ in rows], label: [lab for _, lab in rows]}), path
        )
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_reads_every_format(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"labels{suffix}", ROWS)
    examples = load_labelled(path, min_per_class=4)
    assert [(e.text, e.label) for e in examples] == [(t, LABEL2ID[lab]) for t, lab in ROWS]


def test_column_names_and_label_case_are_configurable(tmp_path: Path) -> None:
    rows = [(t, lab.upper()) for t, lab in ROWS]
    path = write(tmp_path / "labels.csv", rows, text="comment", label="rating")
    examples = load_labelled(path, text_column="comment", label_column="rating", min_per_class=4)
    assert [e.label for e in examples] == [LABEL2ID[lab] for _, lab in ROWS]


def test_missing_columns_name_what_was_found(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.csv", ROWS, text="comment", label="score")
    with pytest.raises(DataError) as err:
        load_labelled(path)
    assert str(err.value) == (
        "labels.csv: expected columns ['text', 'label'], found ['comment', 'score']; "
        "pass --text-column / --label-column to name yours"
    )


def test_unknown_labels_are_listed_with_row_numbers(tmp_path: Path) -> None:
    rows = [*ROWS, ("meh", "bad"), ("fine", "neutral"), ("awful", "bad")]
    path = write(tmp_path / "labels.jsonl", rows)
    with pytest.raises(DataError) as err:
        load_labelled(path, min_per_class=1)
    assert str(err.value) == (
        "labels.jsonl: unknown labels (expected one of poor, good, outstanding): "
        "'bad' in rows 13, 15; 'neutral' in rows 14"
    )


def test_empty_texts_are_listed_with_row_numbers(tmp_path: Path) -> None:
    rows = [*ROWS, ("   ", "good"), (None, "poor")]
    path = write(tmp_path / "labels.jsonl", rows)
    with pytest.raises(DataError) as err:
        load_labelled(path, min_per_class=1)
    assert str(err.value) == "labels.jsonl: empty texts in rows 13, 14"


def test_a_label_with_too_few_examples_is_refused(tmp_path: Path) -> None:
    rows = [(f"text {i}", "good") for i in range(12)] + [(f"bad {i}", "poor") for i in range(12)]
    rows += [("wow", "outstanding")]
    path = write(tmp_path / "labels.csv", rows)
    with pytest.raises(DataError) as err:
        load_labelled(path)
    assert str(err.value) == (
        "labels.csv: too few examples of outstanding (1); each label needs at least 10"
    )


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"labelled file .*nope.csv does not exist"):
        load_labelled(tmp_path / "nope.csv")
    path = tmp_path / "labels.txt"
    path.write_text("x")
    with pytest.raises(DataError, match=r"cannot tell the format of labels\.txt"):
        load_labelled(path)


def test_bad_jsonl_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"text": "ok", "label": "good"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"labels\.jsonl line 2 is not valid JSON"):
        load_labelled(path)


def test_stratified_split_is_deterministic_and_keeps_every_label(tmp_path: Path) -> None:
    examples = load_labelled(write(tmp_path / "l.csv", ROWS * 5), min_per_class=4)
    a = stratified_split(examples, 0.2, seed=1)
    b = stratified_split(examples, 0.2, seed=1)
    assert a == b
    train, dev = a
    assert len(train) + len(dev) == len(examples)
    assert sorted({e.label for e in dev}) == [0, 1, 2]


def test_nhs_weak_labels_are_mapped_and_junk_counted() -> None:
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhs-fft"
    if not folder.is_dir():
        pytest.skip("../shared/data/nhs-fft is not beside this checkout")
    examples, report = load_nhs(folder)
    assert report.dropped["phase1 junk criticality"] == 36
    assert all(0 < e.weight < 1 for e in examples)
    texts = [e.text for e in examples]
    assert len(texts) == len(set(texts))
    assert "Nothing." not in texts
