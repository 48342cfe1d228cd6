"""The NHS comments: weak labels for training, and the hand-labelled real test split."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import training.nhs
from training.data import DataError, load_corpus
from training.nhs import (
    comment_hash,
    held_out_hashes,
    is_nhs_reference,
    load_nhs_test,
)
from training.train import TrainConfig, load_data

SHARED_NHS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhs-fft"

PHASE1 = [
    # (feedback, criticality)
    ("The nurse was rude and nobody explained anything.", "-3"),
    ("Seen on time, staff were kind.", "2"),
    ("Seen on time, staff were kind.", "2"),  # a comment repeats once per topic code
    ("They rang me at home the next day to check how I was. Second to none.", "5"),
    ("Nothing.", "3"),
    ("Parking could be better.", "-1"),
    ("Odd score", "-o"),
]
V6 = [
    # (FFT answer, Comment sentiment)
    ("Waited four hours  and was sent home without tests.", "5"),
    ("Quick and friendly, thank you.", "2"),
    ("Lovely staff but the food was cold.", "3"),
]


def write_nhs_files(folder: Path) -> Path:
    """A small pair of NHS files in the shape of the real ones."""
    folder.mkdir()
    with open(folder / "phase1_text_data.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "label", "subcategory", "feedback", "criticality", "row_index"])
        for i, (text, score) in enumerate(PHASE1):
            writer.writerow(["XX", "x", "Staff", text, score, i])
    with open(folder / "v6framework_230831.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["FFT question", "FFT answer", "FFT categorical answer", "Comment sentiment"]
        )
        for text, sentiment in V6:
            writer.writerow(["What could we improve?", text, "2", sentiment])
    return folder


@pytest.fixture
def nhs_dir(tmp_path: Path) -> Path:
    return write_nhs_files(tmp_path / "nhs-fft")


def reference_file(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text(
        "".join(json.dumps({"nhs_sha256": comment_hash(t), "label": lab}) + "\n" for t, lab in rows)
    )
    return path


def test_the_test_split_reads_its_texts_from_the_nhs_files(nhs_dir: Path, tmp_path: Path) -> None:
    # Case and runs of spaces do not change a comment's identity.
    ref = reference_file(
        tmp_path / "nhs-test.jsonl",
        [
            ("waited four hours and was sent home without tests.", "poor"),
            (
                "They rang me at home the next day to check how I was. Second to none.",
                "outstanding",
            ),
        ],
    )
    examples = load_nhs_test(nhs_dir, ref)
    assert [(e.text, e.label, e.source) for e in examples] == [
        ("Waited four hours  and was sent home without tests.", 0, "nhs-test"),
        ("They rang me at home the next day to check how I was. Second to none.", 2, "nhs-test"),
    ]
    assert is_nhs_reference(ref)
    assert not is_nhs_reference(Path(training.nhs.CORPUS_DIR / "test.jsonl"))


def test_a_test_comment_missing_from_the_nhs_files_is_an_error(
    nhs_dir: Path, tmp_path: Path
) -> None:
    ref = reference_file(
        tmp_path / "nhs-test.jsonl",
        [("Quick and friendly, thank you.", "good"), ("A comment nobody wrote.", "poor")],
    )
    with pytest.raises(DataError) as err:
        load_nhs_test(nhs_dir, ref)
    assert str(err.value) == (
        f"nhs-test.jsonl: 1 comment (row 2) is not in {nhs_dir}; "
        "the NHS files differ from the ones the split was labelled on"
    )


def test_many_missing_comments_are_counted_and_the_first_five_named(
    nhs_dir: Path, tmp_path: Path
) -> None:
    rows = [("Quick and friendly, thank you.", "good")]
    rows += [(f"Comment number {i} that nobody wrote.", "poor") for i in range(7)]
    ref = reference_file(tmp_path / "nhs-test.jsonl", rows)
    with pytest.raises(DataError) as err:
        load_nhs_test(nhs_dir, ref)
    assert str(err.value) == (
        f"nhs-test.jsonl: 7 comments (rows 2, 3, 4, 5, 6, ...) are not in {nhs_dir}; "
        "the NHS files differ from the ones the split was labelled on"
    )


def test_a_folder_without_the_nhs_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"has no phase1_text_data\.csv"):
        load_nhs_test(tmp_path, tmp_path / "nhs-test.jsonl")


def test_training_leaves_the_test_comments_out(
    nhs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training.nhs, "HAND_FILE", tmp_path / "none.jsonl")
    monkeypatch.setattr(training.nhs, "HAND_DEV_FILE", tmp_path / "none.jsonl")
    config = TrainConfig(output=tmp_path / "m", nhs_dir=nhs_dir)
    _, _, sources = load_data(config)
    assert sources["nhs"]["rows"] == 4

    held = ["Seen on time, staff were kind.", "Waited four hours  and was sent home without tests."]
    ref = reference_file(tmp_path / "nhs-test.jsonl", [(held[0], "good"), (held[1], "poor")])
    monkeypatch.setattr(training.nhs, "TEST_FILE", ref)
    train_set, _, sources = load_data(config)
    assert sources["nhs"]["rows"] == 2
    assert "nhs_hand" not in sources
    texts = {e.text for e in train_set}
    assert not texts & set(held)
    assert "Quick and friendly, thank you." in texts


def test_hand_labels_replace_the_weak_ones_in_training_and_dev(
    nhs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No weak label (scores 4-5 are dropped), but outstanding by hand: a personal touch.
    text = "They rang me at home the next day to check how I was. Second to none."
    dev_text = "Quick and friendly, thank you."
    hand = reference_file(tmp_path / "nhs-train.jsonl", [(text, "outstanding")])
    hand_dev = reference_file(tmp_path / "nhs-dev.jsonl", [(dev_text, "good")])
    monkeypatch.setattr(training.nhs, "HAND_FILE", hand)
    monkeypatch.setattr(training.nhs, "HAND_DEV_FILE", hand_dev)
    monkeypatch.setattr(training.nhs, "TEST_FILE", tmp_path / "none.jsonl")
    config = TrainConfig(output=tmp_path / "m", nhs_dir=nhs_dir, nhs_hand_weight=2.0)
    train_set, dev_set, sources = load_data(config)
    assert [(e.label, e.weight, e.source) for e in train_set if e.text == text] == [
        (2, 2.0, "nhs-hand")
    ]
    assert dev_text not in {e.text for e in train_set}
    assert [(e.label, e.source) for e in dev_set if e.text == dev_text] == [(1, "nhs-hand-dev")]
    assert sources["nhs"]["rows"] == 3
    assert sources["nhs_hand"]["rows"] == 1
    assert sources["nhs_hand"]["labels"] == {"poor": 0, "good": 0, "outstanding": 1}
    assert sources["nhs_hand"]["dev_rows"] == 1


@pytest.mark.skipif(
    not SHARED_NHS.is_dir(), reason="../shared/data/nhs-fft is not beside this checkout"
)
def test_the_committed_real_test_split_resolves_and_is_unseen_in_training() -> None:
    examples = load_nhs_test(SHARED_NHS)
    assert len(examples) == len(held_out_hashes()) > 0
    train_set, _, _ = load_data(TrainConfig(output=Path("unused"), nhs_dir=SHARED_NHS))
    assert not {comment_hash(e.text) for e in train_set} & held_out_hashes()
    corpus = {e.text for split in ("train", "dev", "test") for e in load_corpus(split)}
    assert not corpus & {e.text for e in examples}
