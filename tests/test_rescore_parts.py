"""The pieces of ``rescore`` that need no model: reading in chunks and resuming, writing,
checkpoints and progress."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.rescore.checkpoint import Checkpoint, WorkDir, open_output
from service.rescore.errors import RescoreError
from service.rescore.progress import Progress
from service.rescore.ray_engine import read_tasks
from service.rescore.sinks import CsvSink, JsonlSink, ParquetPartsSink, csv_cell
from service.rescore.sources import Chunk, Position, detect_format, open_source


def rows_of(chunks: list[Chunk]) -> list[dict[str, object]]:
    return [row for chunk in chunks for row in chunk.rows]


CSV_TEXT = (
    "\ufeffid,text\n"
    "1,plain\n"
    '2,"quoted, with comma"\n'
    "\n"  # a blank line is not a row
    '3,"two\nlines"\n'
    "4\n"  # too few fields
    "5,x,extra\n"
    "6,café\r\n"
    "7,last"  # no newline at the end
)


def test_csv_rows_are_strings_with_broken_rows_flagged(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    with open_source(str(path), "csv") as source:
        assert source.columns == ["id", "text"]
        chunks = list(source.chunks(3))
    assert [c.start for c in chunks] == [0, 3, 6]
    assert rows_of(chunks) == [
        {"id": "1", "text": "plain"},
        {"id": "2", "text": "quoted, with comma"},
        {"id": "3", "text": "two\nlines"},
        {"id": "4"},
        {"id": "5", "text": "x"},
        {"id": "6", "text": "café"},
        {"id": "7", "text": "last"},
    ]
    assert chunks[1].broken == {
        0: "1 field where the header has 2",
        1: "3 fields where the header has 2",
    }
    assert chunks[-1].next == Position(7, path.stat().st_size)


def test_csv_fields_longer_than_the_csv_modules_default_limit(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    long_text = "slow " * 60_000  # 300 KB, over the csv module's 128 KiB default
    path.write_text(f'id,text\n1,"{long_text}"\n')
    with open_source(str(path), "csv") as source:
        (chunk,) = source.chunks(10)
    assert chunk.rows == [{"id": "1", "text": long_text}]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_resuming_at_a_chunk_gives_the_same_rows_as_reading_on(tmp_path: Path, fmt: str) -> None:
    rows = [{"id": str(i), "text": f"comment {i} " + "é" * (i % 4)} for i in range(23)]
    path = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        path.write_text("id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
    with open_source(str(path), fmt) as source:
        whole = list(source.chunks(5))
    assert rows_of(whole) == rows
    for k in range(1, len(whole)):
        with open_source(str(path), fmt) as source:
            resumed = list(source.chunks(5, whole[k - 1].next))
        assert [c.start for c in resumed] == [c.start for c in whole[k:]]
        assert rows_of(resumed) == rows_of(whole[k:])


def test_stdin_resumes_by_reading_past_the_rows_done() -> None:
    data = b"id,text\n1,a\n2,b\n3,c\n"
    source = open_source("-", "csv", stdin=io.BytesIO(data))
    (chunk,) = source.chunks(2, Position(2))
    assert (chunk.start, chunk.rows) == (2, [{"id": "3", "text": "c"}])


def test_jsonl_columns_and_unreadable_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1, "text": "x"}\n{"b": [1]}\nnot json\n[1, 2]\n')
    with open_source(str(path), "jsonl") as source:
        assert source.columns == ["a", "text", "b"]
        (chunk,) = source.chunks(10)
    assert chunk.rows == [{"a": 1, "text": "x"}, {"b": [1]}, {}, {}]
    assert chunk.broken == {2: "not valid JSON (Expecting value)", 3: "a JSON array, not an object"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "a.jsonl",
            b"id,text\n1,x\n",
            "a.jsonl is not a JSON Lines file: row 1 is not valid JSON (Expecting value)",
        ),
        ("a.csv", b"", "a.csv is empty: a CSV file needs a header row"),
        ("a.csv", b"id,id\n", "a.csv has duplicate column names: ['id']"),
        ("a.parquet", b"PAR1 not really", "a.parquet is not a readable Parquet file"),
    ],
)
def test_unreadable_files_fail_on_open(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RescoreError) as err:
        open_source(str(path), detect_format(str(path), None, "--format"))
    assert str(err.value).startswith(message)


def test_text_that_is_not_utf8_fails_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("id,text\n1,caf\xe9\n".encode("latin-1"))
    with open_source(str(path), "csv") as source, pytest.raises(RescoreError) as err:
        list(source.chunks(10))
    assert str(err.value) == (
        "latin.csv is not UTF-8 text (at byte offset 13); convert it first, e.g. iconv -f latin1 -t utf-8"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [("a.CSV", "csv"), ("a.json", "jsonl"), ("a.ndjson", "jsonl"), ("a.pq", "parquet")],
)
def test_format_from_extension(path: str, expected: str) -> None:
    assert detect_format(path, None, "--format") == expected


def test_csv_cells() -> None:
    assert [
        csv_cell(v, c) for v, c in [(0.25, "score_poor"), (0.25, "other"), (3, ""), (False, "")]
    ] == [
        "0.250000",
        "0.25",
        "3",
        "false",
    ]


def test_byte_sinks_report_durable_offsets(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    sink = CsvSink(open_output(path, None), ["a", "b"], durable=True, header=True)
    assert sink.commit() == {"bytes": 4}
    sink.write([{"a": "x,y", "b": None}])
    assert sink.commit() == {"bytes": 11}
    sink.write([{"a": "lost"}])  # written but never committed: a crash here...
    sink.close()
    resumed = CsvSink(open_output(path, 11), ["a", "b"], durable=True, header=False)
    resumed.write([{"a": "z", "b": 1}])
    resumed.finish()  # ...is cut off on resume
    assert path.read_text() == 'a,b\n"x,y",\nz,1\n'
    out = io.BytesIO()
    jsonl = JsonlSink(out, durable=False)
    jsonl.write([{"t": "é", "n": None}])
    assert jsonl.commit() == {}
    assert out.getvalue().decode() == '{"t": "é", "n": null}\n'


def test_parquet_parts_are_merged_in_order_and_redone_after_a_crash(tmp_path: Path) -> None:
    folder, target = tmp_path / "parts", tmp_path / "out.parquet"
    columns = ["id", "label"]
    sink = ParquetPartsSink(folder, target, columns, known=None)
    sink.write([{"id": 1, "label": "good"}])
    assert sink.commit() == {"parts": 1}
    sink.write([{"id": 2, "label": None}])
    sink.commit()  # a part the checkpoint never recorded
    (folder / "part-000003.parquet.tmp").write_bytes(b"half")
    resumed = ParquetPartsSink(folder, target, columns, known=None, parts_done=1)
    assert sorted(p.name for p in folder.iterdir()) == ["part-000001.parquet"]
    resumed.write([{"id": 3, "label": "poor"}])
    resumed.finish()
    table = pq.read_table(target)
    assert table.column("id").to_pylist() == [1, 3]
    assert table.schema.field("id").type == pa.int64()
    assert table.column_names[-6:] == [
        "label",
        "score_poor",
        "score_good",
        "score_outstanding",
        "truncated",
        "model_version",
    ]


def test_checkpoints_round_trip_and_guard_unfinished_runs(tmp_path: Path) -> None:
    work = WorkDir(tmp_path / "out.csv")
    work.create()
    checkpoint = Checkpoint({"chunk_size": 8}, rows=16, input_offset=300, output={"bytes": 9})
    work.save(checkpoint)
    assert work.load() == checkpoint
    with pytest.raises(RescoreError) as err:
        WorkDir(tmp_path / "out.csv").create()
    assert str(err.value) == (
        f"{work.path} holds an unfinished run: pass --resume to continue it, "
        "or delete that folder to start again"
    )


def test_progress_logs_rate_and_eta_when_not_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    progress = Progress(io.StringIO(), total_rows=1000, log_every_s=30, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="service.rescore"):
        now[0] = 110.0
        progress.advance(100, 1)  # too soon for a line
        now[0] = 130.0
        progress.advance(200, 2)
    assert [r.getMessage() for r in caplog.records] == [
        "300 rows (30.0%), 10 rows/s, ETA 0:01:10, 3 rejected"
    ]
    # CSV/JSONL: the total is estimated from the bytes read
    estimate = Progress(io.StringIO(), done=0, size_bytes=1000, clock=lambda: 0.0)
    estimate.rows = 50
    assert estimate.total(offset=250) == 200


def test_ray_read_tasks_give_each_worker_several() -> None:
    assert read_tasks(1, 4) == 1
    assert read_tasks(4, 2) == 4
    assert read_tasks(100, 2) == 8  # 13 chunks each
    assert read_tasks(1_000_000, 8) == 2000
