"""The command line: exit codes, messages and what each subcommand writes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from service.cli import main
from tests.conftest import SMALL_CSV


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_the_subcommands() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for name in ("train", "evaluate", "export", "serve", "rescore"):
        assert f"  {name} " in out


def test_train_with_wrong_columns_fails_cleanly(tmp_path: Path) -> None:
    code, out, err = run("train", "--data", str(SMALL_CSV), "-o", str(tmp_path / "m"))
    assert code == 1
    assert out == ""
    assert err == (
        "Error: labelled_small.csv: expected columns ['text', 'label'], found "
        "['comment', 'rating', 'channel']; pass --text-column / --label-column to name yours\n"
    )
    assert not (tmp_path / "m").exists()


def test_train_writes_an_artifact(tmp_path: Path) -> None:
    out_dir = tmp_path / "m"
    code, out, _ = run(
        "train",
        "--data",
        str(SMALL_CSV),
        "--text-column",
        "comment",
        "--label-column",
        "rating",
        "-o",
        str(out_dir),
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--no-build",
    )
    assert code == 0, out
    meta = json.loads((out_dir / "artifact.json").read_text())
    assert meta["id2label"] == {"0": "poor", "1": "good", "2": "outstanding"}
    assert meta["training"]["total_steps"] == 2
    assert meta["data"]["train"]["rows"] + meta["data"]["dev"]["rows"] == 36
    assert f"model {meta['version']} written to {out_dir}" in out
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "MODEL_CARD.md",
        "adapter.safetensors",
        "artifact.json",
    ]


def test_evaluate_prints_the_report_and_writes_pngs(tiny_artifact: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "evaluate",
        "--model",
        str(tiny_artifact),
        "--data",
        str(SMALL_CSV),
        "--text-column",
        "comment",
        "--label-column",
        "rating",
        "--no-baselines",
        "--output-dir",
        str(tmp_path),
    )
    assert code == 0, out
    assert "macro-F1" in out
    assert "ECE" in out
    assert "confusion (rows: labelled, columns: predicted)" in out
    assert "TF-IDF + logistic regression" not in out
    assert (tmp_path / "confusion-labelled_small.png").stat().st_size > 1000
    assert (tmp_path / "reliability-labelled_small.png").stat().st_size > 1000


def test_evaluate_with_baselines_and_record(tiny_copy: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    import csv

    with open(SMALL_CSV) as handle:
        rows = [{"text": r["comment"], "label": r["rating"]} for r in csv.DictReader(handle)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, _ = run(
        "evaluate",
        "--model",
        str(tiny_copy),
        "--data",
        str(data),
        "--baseline-train",
        str(data),
        "--output-dir",
        str(tmp_path),
        "--record",
    )
    assert code == 0, out
    assert "TF-IDF + logistic regression" in out
    assert "VADER (thresholds fit on train)" in out
    meta = json.loads((tiny_copy / "artifact.json").read_text())
    assert set(meta["metrics"]["evaluations"]["data.jsonl"]["baselines"]) == {
        "VADER (thresholds fit on train)",
        "TF-IDF + logistic regression",
    }
    assert "Evaluation on `data.jsonl` (36 comments)" in (tiny_copy / "MODEL_CARD.md").read_text()


def test_export_lists_files_with_hashes(tiny_copy: Path) -> None:
    code, out, _ = run("export", "--model", str(tiny_copy))
    assert code == 0, out
    assert "model.int8.onnx" in out
    assert "sha256" in out
    assert (tiny_copy / "build" / "model.int8.onnx").is_file()


def test_missing_model_is_a_clean_error(tmp_path: Path) -> None:
    code, _, err = run("export", "--model", str(tmp_path / "none"))
    assert code == 1
    assert err == f"Error: model artifact {tmp_path / 'none'} does not exist or is not a folder\n"


def test_evaluate_fits_the_baselines_on_the_models_own_training_data(
    tiny_copy: Path, tmp_path: Path
) -> None:
    args = ["evaluate", "--model", str(tiny_copy), "--data", str(SMALL_CSV)]
    args += ["--text-column", "comment", "--label-column", "rating", "--output-dir", str(tmp_path)]
    code, out, _ = run(*args)
    assert code == 0, out
    assert "TF-IDF + logistic regression" in out

    meta = json.loads((tiny_copy / "artifact.json").read_text())
    recorded = meta["data"]["train"]["sha256"]
    meta["data"]["train"]["sha256"] = "0" * 64
    (tiny_copy / "artifact.json").write_text(json.dumps(meta))
    code, out, err = run(*args)
    assert code == 1
    assert err == (
        f"Error: the train data of model {meta['version']} has changed since it was trained "
        f"(recorded sha256 000000000000..., now {recorded[:12]}...); pass --baseline-train "
        "FILE to fit the baselines on a file of your choice\n"
    )


def test_evaluate_reads_a_real_comment_split_from_the_nhs_files(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    from tests.test_nhs import PHASE1, V6, reference_file, write_nhs_files

    nhs_dir = write_nhs_files(tmp_path / "nhs-fft")
    texts = [t for t, _ in PHASE1[:4] + V6[:2]]
    labels = ["poor", "good", "good", "outstanding", "poor", "good"]
    ref = reference_file(tmp_path / "nhs-test.jsonl", list(zip(texts, labels, strict=True)))
    code, out, _ = run(
        "evaluate",
        "--model",
        str(tiny_artifact),
        "--data",
        str(ref),
        "--nhs-dir",
        str(nhs_dir),
        "--no-baselines",
        "--output-dir",
        str(tmp_path),
    )
    assert code == 0, out
    assert out.startswith(
        f"Evaluation of {json.loads((tiny_artifact / 'artifact.json').read_text())['version']} on nhs-test.jsonl (6 comments)\n"
    )
