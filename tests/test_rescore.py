"""``feedback-classifier rescore`` end to end on the tiny artifact: formats, stdin/stdout,
columns, rejects, errors and exit codes, resuming after ``kill -9``, and the Ray engine."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from model import Classifier
from model.labels import LABELS
from service.cli import main
from tests.conftest import SMALL_CSV

ADDED = ["label", "score_poor", "score_good", "score_outstanding", "truncated", "model_version"]
FORMATS = ["csv", "jsonl", "parquet"]

with open(SMALL_CSV, newline="") as _handle:
    TEXTS = [row["comment"] for row in csv.DictReader(_handle)]
# Every input column is a string, so all three formats carry them alike.
ROWS = [{"id": f"r{i}", "text": text, "channel": "chat"} for i, text in enumerate(TEXTS)]


def run(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, ["rescore", *args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a bug, not an error the command reports
    return result.exit_code, result.stdout_bytes, result.stderr


def write(path: Path, rows: list[dict[str, Any]], fmt: str | None = None) -> Path:
    fmt = fmt or path.suffix.lstrip(".")
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def read(data: Path | bytes, fmt: str) -> list[dict[str, Any]]:
    raw = data.read_bytes() if isinstance(data, Path) else data
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    if fmt == "jsonl":
        return [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    return pq.read_table(io.BytesIO(raw)).to_pylist()


@pytest.fixture(scope="module")
def classifier(tiny_artifact: Path) -> Classifier:
    return Classifier.load(tiny_artifact)


@pytest.fixture
def model(tiny_artifact: Path) -> list[str]:
    return ["--model", str(tiny_artifact)]


def scored(text: object) -> bool:
    return isinstance(text, str) and bool(text.strip())


def expected(
    classifier: Classifier, rows: list[dict[str, Any]], fmt: str, text: str = "text"
) -> list[dict[str, Any]]:
    """Each row followed by what ``Classifier.predict`` says of its text, as ``fmt`` has it."""
    predictions = iter(classifier.predict([r[text] for r in rows if scored(r.get(text))]))
    out = []
    for row in rows:
        added: dict[str, Any] = dict.fromkeys(ADDED)
        if scored(row.get(text)):
            p = next(predictions)
            added = {
                "label": p.label,
                "truncated": p.truncated,
                "model_version": classifier.version,
            }
            added.update({f"score_{label}": p.scores[label] for label in LABELS})
        if fmt == "csv":
            added = {k: _as_csv(v, k) for k, v in added.items()}
        out.append({**row, **{k: added[k] for k in ADDED}})
    return out


def _as_csv(value: object, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.6f}" if column.startswith("score_") else str(value)


@pytest.mark.parametrize("out_fmt", FORMATS)
@pytest.mark.parametrize("in_fmt", FORMATS)
def test_every_format_in_and_out(
    classifier: Classifier, model: list[str], tmp_path: Path, in_fmt: str, out_fmt: str
) -> None:
    source = write(tmp_path / f"history.{in_fmt}", ROWS)
    output = tmp_path / f"labelled.{out_fmt}"
    code, out, err = run(str(source), "-o", str(output), *model)
    assert code == 0, err
    assert out == b""
    rows = read(output, out_fmt)
    assert rows == expected(classifier, ROWS, out_fmt)
    assert list(rows[0]) == ["id", "text", "channel", *ADDED]
    assert (tmp_path / f"labelled.{out_fmt}.rejects.csv").read_text() == "row,reason\n"
    # nothing else is left behind (no .partial folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [source.name, output.name, f"{output.name}.rejects.csv"]
    )
    assert err.endswith(
        f": {len(ROWS)} labelled, 0 rejected (listed in {output}.rejects.csv); output: {output}\n"
    )


@pytest.mark.parametrize("out_fmt", FORMATS)
def test_stdin_to_stdout(
    classifier: Classifier, model: list[str], tmp_path: Path, out_fmt: str
) -> None:
    data = write(tmp_path / "history.csv", ROWS).read_bytes()
    code, out, err = run(
        "-", "--format", "csv", "-o", "-", "--output-format", out_fmt, *model, stdin=data
    )
    assert code == 0, err
    assert read(out, out_fmt) == expected(classifier, ROWS, out_fmt)
    assert err.endswith(f": {len(ROWS)} labelled, 0 rejected; output: stdout\n")


def test_stdout_takes_the_input_format_by_default(
    classifier: Classifier, model: list[str], tmp_path: Path
) -> None:
    source = write(tmp_path / "history.jsonl", ROWS[:3])
    code, out, _ = run(str(source), "-o", "-", *model)
    assert code == 0
    assert read(out, "jsonl") == expected(classifier, ROWS[:3], "jsonl")


def test_column_options_and_exact_rejects(
    classifier: Classifier, model: list[str], tmp_path: Path
) -> None:
    lines = [
        {"ticket": 1, "comment": "thx, sorted", "extra": {"nested": [1, 2]}},
        {"ticket": 2},
        {"ticket": 3, "comment": None},
        {"ticket": 4, "comment": "   "},
        {"ticket": 5, "comment": 42},
        "not json at all",
        [1, 2],
        {"ticket": 8, "comment": "Waited two hours and nobody called back."},
    ]
    source = tmp_path / "history.jsonl"
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    source.write_text(text.replace("\n", "\n\n", 1))  # a blank line: skipped, not a row
    output = tmp_path / "out.jsonl"
    rejects = tmp_path / "bad.csv"
    code, _, err = run(
        str(source), "-o", str(output), "--text-column", "comment", "--id-column", "ticket",
        "--rejects", str(rejects), "--chunk-size", "3", *model,
    )  # fmt: skip
    assert code == 0, err
    assert rejects.read_text() == (
        "row,ticket,reason\n"
        "2,2,'comment' is missing\n"
        "3,3,'comment' is null\n"
        "4,4,'comment' is blank\n"
        "5,5,\"'comment' is a number, not text\"\n"
        "6,,not valid JSON (Expecting value)\n"
        '7,,"a JSON array, not an object"\n'
    )
    rows = read(output, "jsonl")
    # each is the only good row of its chunk of 3, so it was scored alone
    good = [classifier.predict([text])[0] for text in ("thx, sorted", lines[7]["comment"])]  # type: ignore[index]
    assert [r.get("ticket") for r in rows] == [1, 2, 3, 4, 5, None, None, 8]
    assert rows[0]["extra"] == {"nested": [1, 2]}  # JSON values pass through as they were
    assert [r["label"] for r in rows] == [
        good[0].label,
        None,
        None,
        None,
        None,
        None,
        None,
        good[1].label,
    ]
    assert rows[7]["score_good"] == good[1].scores["good"]
    assert all(r[k] is None for r in rows[1:7] for k in ADDED)
    assert err.endswith(f": 2 labelled, 6 rejected (listed in {rejects}); output: {output}\n")
    assert not (tmp_path / "out.jsonl.rejects.csv").exists()


def test_types_of_input_columns_are_kept(
    classifier: Classifier, model: list[str], tmp_path: Path
) -> None:
    when = dt.datetime(2024, 5, 1, 12, 30)
    table = pa.table(
        {
            "id": pa.array([7, 8], pa.int64()),
            "at": pa.array([when, when], pa.timestamp("us")),
            "text": ["thx, sorted", "useless"],
            "label": ["poor", "poor"],  # an old label: replaced by the new one
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    code, _, err = run(str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"), *model)
    assert code == 0, err
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.names == ["id", "at", "text", *ADDED]
    assert out.schema.field("id").type == pa.int64()
    assert out.schema.field("at").type == pa.timestamp("us")
    assert out.schema.field("truncated").type == pa.bool_()
    assert out.column("label").to_pylist() == [
        p.label for p in classifier.predict(["thx, sorted", "useless"])
    ]
    code, _, _ = run(str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.csv"), *model)
    assert [r["at"] for r in read(tmp_path / "out.csv", "csv")] == ["2024-05-01T12:30:00"] * 2


def test_csv_rows_that_cannot_be_read_whole_stay_in_place(model: list[str], tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,fine thanks\n2\n3,too,many\n4,great\n")
    code, _, err = run(str(source), "-o", str(tmp_path / "out.csv"), *model)
    assert code == 0, err
    rows = read(tmp_path / "out.csv", "csv")
    assert [(r["id"], r["text"], r["label"] != "") for r in rows] == [
        ("1", "fine thanks", True),
        ("2", "", False),
        ("3", "too", False),
        ("4", "great", True),
    ]
    assert (tmp_path / "out.csv.rejects.csv").read_text() == (
        "row,reason\n2,1 field where the header has 2\n3,3 fields where the header has 2\n"
    )


def test_an_empty_input_gives_an_empty_output(model: list[str], tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,text\n")
    code, _, err = run(str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), *model)
    assert code == 0, err
    assert (tmp_path / "out.csv").read_text() == "id,text," + ",".join(ADDED) + "\n"


@pytest.mark.parametrize(
    ("option", "column", "message"),
    [
        ("--text-column", "body", "history.csv has no column 'body'; found ['id', 'text', 'channel']; pass --text-column to name yours"),
        ("--id-column", "ticket", "history.csv has no column 'ticket'; found ['id', 'text', 'channel']; pass --id-column to name yours"),
    ],
)  # fmt: skip
def test_unknown_column_lists_the_columns_found(
    model: list[str], tmp_path: Path, option: str, column: str, message: str
) -> None:
    source = write(tmp_path / "history.csv", ROWS)
    code, out, err = run(str(source), "-o", str(tmp_path / "out.csv"), option, column, *model)
    assert (code, out, err) == (1, b"", f"Error: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


def test_missing_input_is_a_clean_error(model: list[str], tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nope.csv"), "-o", str(tmp_path / "out.csv"), *model)
    assert (code, err) == (
        1,
        f"Error: input file {tmp_path / 'nope.csv'} does not exist or is not a file\n",
    )


def test_missing_output_folder_is_a_clean_error(model: list[str], tmp_path: Path) -> None:
    source = write(tmp_path / "history.csv", ROWS[:2])
    code, _, err = run(str(source), "-o", str(tmp_path / "no" / "out.csv"), *model)
    assert (code, err) == (1, f"Error: output folder {tmp_path / 'no'} does not exist\n")


def test_unreadable_input_is_a_clean_error(model: list[str], tmp_path: Path) -> None:
    (tmp_path / "history.parquet").write_bytes(b"id,text\n1,hello\n")
    code, _, err = run(str(tmp_path / "history.parquet"), "-o", str(tmp_path / "out.csv"), *model)
    assert code == 1
    assert err.startswith("Error: history.parquet is not a readable Parquet file: ")
    assert err.count("\n") == 1
    (tmp_path / "history.jsonl").write_text("id,text\n1,hello\n")
    code, _, err = run(str(tmp_path / "history.jsonl"), "-o", str(tmp_path / "out.csv"), *model)
    assert (code, err) == (
        1,
        "Error: history.jsonl is not a JSON Lines file: row 1 is not valid JSON (Expecting value)\n",
    )


def test_missing_model_is_a_clean_error(tmp_path: Path) -> None:
    source = write(tmp_path / "history.csv", ROWS[:2])
    code, _, err = run(str(source), "-o", str(tmp_path / "out.csv"), "--model", str(tmp_path / "m"))
    assert (code, err) == (
        1,
        f"Error: model artifact {tmp_path / 'm'} does not exist or is not a folder\n",
    )


def test_a_model_that_cannot_load_leaves_no_unfinished_run(tiny_copy: Path, tmp_path: Path) -> None:
    (tiny_copy / "adapter.safetensors").unlink()  # unbuilt, and now unbuildable
    source = write(tmp_path / "history.csv", ROWS[:2])
    code, _, err = run(str(source), "-o", str(tmp_path / "out.csv"), "--model", str(tiny_copy))
    assert (code, err) == (1, f"Error: {tiny_copy} has no adapter.safetensors\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "model"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history.txt", "-o", "out.csv"], "cannot tell the format of history.txt from its extension; use .csv, .jsonl or .parquet, or pass --format"),
        (["-", "-o", "out.csv"], "cannot tell the format of stdin; pass --format"),
        (["history.csv", "-o", "out.txt"], "cannot tell the format of out.txt from its extension; use .csv, .jsonl or .parquet, or pass --output-format"),
        (["history.csv", "-o", "-", "--resume"], "output to stdout cannot be resumed; write to a file to use --resume"),
        (["-", "--format", "csv", "-o", "out.csv", "--engine", "ray"], "--engine ray reads files on the cluster; stdin needs --engine local"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert err.endswith(f"Error: {message}\n")


def test_help_documents_exit_codes_and_row_numbers() -> None:
    result = CliRunner().invoke(main, ["rescore", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 done" in text
    assert "2 usage error" in text
    assert "data rows counted from 1, not counting a CSV header or blank lines" in text


def test_an_unfinished_run_is_not_overwritten(model: list[str], tmp_path: Path) -> None:
    source = write(tmp_path / "history.csv", ROWS[:2])
    (tmp_path / "out.csv.partial").mkdir()
    code, _, err = run(str(source), "-o", str(tmp_path / "out.csv"), *model)
    assert (code, err) == (
        1,
        f"Error: {tmp_path / 'out.csv.partial'} holds an unfinished run: pass --resume to "
        "continue it, or delete that folder to start again\n",
    )
    code, _, err = run(str(source), "-o", str(tmp_path / "other.csv"), "--resume", *model)
    assert (code, err) == (
        1,
        f"Error: nothing to resume: {tmp_path / 'other.csv.partial'} has no checkpoint (run without --resume)\n",
    )


def _big_input(path: Path, n: int) -> list[dict[str, Any]]:
    rows = [{"id": f"r{i}", "text": f"{TEXTS[i % len(TEXTS)]} #{i}"} for i in range(n)]
    rows[17]["text"] = " "  # a reject, so the rejects file is resumed too
    write(path, rows)
    return rows


def _checkpoint_rows(workdir: Path) -> int:
    try:
        return int(json.loads((workdir / "checkpoint.json").read_text())["rows"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.parametrize("out_fmt", ["csv", "parquet"])
def test_resume_after_kill_9_gives_every_row_once_in_order(
    tiny_artifact: Path, model: list[str], tmp_path: Path, out_fmt: str
) -> None:
    source = tmp_path / "history.csv"
    rows = _big_input(source, 1500)
    output = tmp_path / f"out.{out_fmt}"
    workdir = tmp_path / f"out.{out_fmt}.partial"
    args = [str(source), "-o", str(output), "--chunk-size", "20", "--threads", "1", *model]
    cli = [sys.executable, "-c", "from service.cli import main; main()", "rescore"]
    process = subprocess.Popen([*cli, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while (
            _checkpoint_rows(workdir) < 200
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done = _checkpoint_rows(workdir)
    assert 200 <= done < len(rows)
    assert not output.exists()
    if out_fmt == "csv":
        with open(workdir / "output.csv", "ab") as handle:
            handle.write(b"half a row written after the checkpoint,")
    code, _, err = run(*args, "--resume")
    assert code == 0, err
    assert f"rescored {len(rows):,} rows ({len(rows) - done:,} in this run" in err
    assert not workdir.exists()
    code, _, err = run(str(source), "-o", str(tmp_path / f"straight.{out_fmt}"), *args[3:])
    assert code == 0, err
    resumed, straight = read(output, out_fmt), read(tmp_path / f"straight.{out_fmt}", out_fmt)
    assert [r["id"] for r in resumed] == [r["id"] for r in rows]
    assert resumed == straight
    assert Path(f"{output}.rejects.csv").read_text() == "row,reason\n18,'text' is blank\n"


def test_resume_refuses_a_changed_run(model: list[str], tmp_path: Path) -> None:
    source = write(tmp_path / "history.csv", ROWS)
    output = tmp_path / "out.csv"
    (tmp_path / "out.csv.partial").mkdir()
    checkpoint = {
        "job": {"input": str(source.resolve()), "input_size": source.stat().st_size,
                "input_mtime_ns": source.stat().st_mtime_ns, "input_format": "csv",
                "output_format": "csv", "text_column": "comment", "id_column": None,
                "model_version": "x", "chunk_size": 8},
        "rows": 8, "output": {"bytes": 10}, "rejects": {"bytes": 11},
    }  # fmt: skip
    (tmp_path / "out.csv.partial" / "checkpoint.json").write_text(json.dumps(checkpoint))
    code, _, err = run(str(source), "-o", str(output), "--resume", *model)
    assert code == 1
    assert err.startswith(
        f"Error: cannot resume {tmp_path / 'out.csv.partial'}: text_column was 'comment', now 'text'; "
        "model_version was 'x', now "
    )


@pytest.fixture
def ray_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private, short temp folder for a local Ray (its socket paths must be short)."""
    pytest.importorskip("ray", reason="the ray extra is part of dev; install it to run this")
    folder = tempfile.mkdtemp(prefix="ray-")
    monkeypatch.setenv("RAY_TMPDIR", folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path(folder) / "cache"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield folder
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


# Building Ray Data's default context sets fields that Ray itself has deprecated, and
# its __setattr__ warns about them: Ray's business, allowed here and nowhere else.
@pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning:ray.data.context")
@pytest.mark.ray
def test_ray_engine_equals_local_engine(
    classifier: Classifier, model: list[str], tmp_path: Path, ray_env: str
) -> None:
    rows: list[dict[str, Any]] = [{**r, "n": i} for i, r in enumerate(ROWS * 2)]
    rows[5]["text"] = None
    rows[40]["text"] = ""
    source = write(tmp_path / "history.jsonl", rows)
    common = ["--chunk-size", "16", "--id-column", "id", *model]
    code, _, err = run(str(source), "-o", str(tmp_path / "local.jsonl"), *common)
    assert code == 0, err
    code, _, err = run(
        str(source),
        "-o",
        str(tmp_path / "ray.jsonl"),
        "--engine",
        "ray",
        "--workers",
        "2",
        "--threads",
        "1",
        *common,
    )
    assert code == 0, err
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray.jsonl.rejects.csv").read_text() == (
        "row,id,reason\n6,r5,'text' is null\n41,r4,'text' is blank\n"
    )
    assert (tmp_path / "local.jsonl.rejects.csv").read_text() == (
        tmp_path / "ray.jsonl.rejects.csv"
    ).read_text()
    out = read(tmp_path / "ray.jsonl", "jsonl")
    assert [r["n"] for r in out] == list(range(len(rows)))
    # one chunk of 16 scored alone is what Classifier.predict sees for those 16 texts
    assert out[16:32] == expected(classifier, rows[16:32], "jsonl")


@pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning:ray.data.context")
@pytest.mark.ray
def test_a_run_that_died_resumes_on_ray(
    tiny_artifact: Path,
    model: list[str],
    tmp_path: Path,
    ray_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.rescore import job as rescore_job

    source = tmp_path / "history.csv"
    _big_input(source, 100)
    write_chunk = rescore_job._Output.write
    calls = []

    def dies_on_the_third_chunk(self: Any, scored: Any, version: str) -> int:
        calls.append(scored.chunk.start)
        if len(calls) == 3:
            raise MemoryError("the machine ran out of memory")  # any crash will do
        return write_chunk(self, scored, version)

    monkeypatch.setattr(rescore_job._Output, "write", dies_on_the_third_chunk)
    job = rescore_job.RescoreJob(
        str(source), str(tmp_path / "out.csv"), "csv", "csv", model=tiny_artifact, chunk_size=16
    )
    with pytest.raises(MemoryError):
        rescore_job.run_job(job)
    monkeypatch.setattr(rescore_job._Output, "write", write_chunk)
    assert _checkpoint_rows(tmp_path / "out.csv.partial") == 32
    common = ["--chunk-size", "16", *model]
    code, _, err = run(
        str(source), "-o", str(tmp_path / "out.csv"), "--resume", "--engine", "ray", *common
    )
    assert code == 0, err
    assert "rescored 100 rows (68 in this run" in err
    code, _, err = run(str(source), "-o", str(tmp_path / "straight.csv"), *common)
    assert code == 0, err
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "straight.csv").read_bytes()
