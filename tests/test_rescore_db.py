"""``rescore --from-db``: the service's stored comments get predictions from a new model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from model.classifier import Classifier
from service.cli import main
from service.settings import Settings
from service.storage import repository as repo
from service.storage.database import database_url, make_engine
from service.storage.migrate import upgrade
from service.storage.models import Prediction

TEXTS = ["thx, sorted", "Waited an hour and nobody called back.", "She drove it over herself!"]
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def env(storage: dict[str, object]) -> dict[str, str]:
    if "database_url" in storage:
        return {"FEEDBACK_DATABASE_URL": str(storage["database_url"])}
    return {"FEEDBACK_DATA_DIR": str(storage["data_dir"])}


@pytest.fixture
def seeded(storage: dict[str, object]) -> Iterator[Engine]:
    """Three stored comments; the first already labelled by an older model."""
    engine = seed(storage)
    yield engine
    engine.dispose()  # PostgreSQL connections left open would warn in a later test


def seed(storage: dict[str, object]) -> Engine:
    if "data_dir" in storage:
        Path(str(storage["data_dir"])).mkdir(parents=True)
    engine = make_engine(database_url(Settings(**storage)), 5)  # type: ignore[arg-type]
    upgrade(engine)
    with engine.begin() as conn:
        stored = repo.store_comments(
            conn,
            [repo.NewComment("generic", f"k{i}", t, f"e{i}") for i, t in enumerate(TEXTS)],
            NOW,
        )
        old = repo.NewPrediction(stored[0].comment_id, "good", {"good": 1.0}, False, "old-v1")
        repo.add_predictions(conn, [old], NOW)
    return engine


def predictions(engine: Engine) -> list[tuple[int, str, str]]:
    with engine.begin() as conn:
        rows = conn.execute(
            select(Prediction.comment_id, Prediction.model_version, Prediction.label).order_by(
                Prediction.comment_id, Prediction.model_version
            )
        )
        return [tuple(r) for r in rows]


def rescore(storage: dict[str, object], model: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["rescore", "--from-db", "--model", str(model), *args], env=env(storage)
    )
    return result.exit_code, result.stderr


def test_from_db_adds_a_prediction_per_comment_and_keeps_history(
    storage: dict[str, object], seeded: Engine, tiny_artifact: Path
) -> None:
    engine = seeded
    clf = Classifier.load(tiny_artifact)
    expected = [p.label for p in clf.predict(TEXTS)]

    code, err = rescore(storage, tiny_artifact)

    assert code == 0, err
    assert err.endswith(
        f"rescored 3 stored comments under model {clf.version} "
        "(0 already had a prediction from it, 0 rejected)\n"
    )
    assert predictions(engine) == sorted(
        [(1, "old-v1", "good")] + [(i + 1, clf.version, expected[i]) for i in range(3)]
    )
    # Again: nothing doubles; --only-missing does not even score them.
    code, err = rescore(storage, tiny_artifact)
    assert err.endswith("(3 already had a prediction from it, 0 rejected)\n")
    code, err = rescore(storage, tiny_artifact, "--only-missing")
    assert err.endswith(
        "rescored 0 stored comments under model "
        + clf.version
        + " (0 already had a prediction from it, 0 rejected)\n"
    )
    assert len(predictions(engine)) == 4


def test_only_missing_labels_what_this_version_lacks(
    storage: dict[str, object], seeded: Engine, tiny_artifact: Path
) -> None:
    engine = seeded
    version = Classifier.load(tiny_artifact).version
    with engine.begin() as conn:
        repo.add_predictions(conn, [repo.NewPrediction(2, "poor", {}, False, version)], NOW)

    code, err = rescore(storage, tiny_artifact, "--only-missing")

    assert code == 0, err
    assert err.endswith(
        f"rescored 2 stored comments under model {version} "
        "(0 already had a prediction from it, 0 rejected)\n"
    )
    assert [(c, v) for c, v, _ in predictions(engine) if v == version] == [
        (1, version),
        (2, version),
        (3, version),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["in.csv"], "--from-db reads and writes the database: drop INPUT and -o"),
        (["-o", "out.csv"], "--from-db reads and writes the database: drop INPUT and -o"),
        (["--engine", "ray"], "--from-db runs on the local engine"),
    ],
)
def test_from_db_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["rescore", "--from-db", *args], env={"FEEDBACK_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert message in result.stderr


def test_only_missing_needs_from_db() -> None:
    result = CliRunner().invoke(main, ["rescore", "in.csv", "-o", "o.csv", "--only-missing"])
    assert result.exit_code == 2
    assert "--only-missing goes with --from-db" in result.stderr


def test_missing_sqlite_file_is_one_clear_error(tmp_path: Path, tiny_artifact: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["rescore", "--from-db", "--model", str(tiny_artifact)],
        env={"FEEDBACK_DATA_DIR": str(tmp_path / "nowhere")},
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no database at {tmp_path / 'nowhere' / 'feedback.db'}: set FEEDBACK_DATA_DIR "
        "(or FEEDBACK_DATABASE_URL) as the service has it\n"
    )


def test_unreachable_database_is_one_clear_error(tiny_artifact: Path) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    result = CliRunner().invoke(
        main,
        ["rescore", "--from-db", "--model", str(tiny_artifact)],
        env={"FEEDBACK_DATABASE_URL": url, "FEEDBACK_DATABASE_TIMEOUT_S": "2"},
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: the database at postgresql+psycopg://nobody:***@127.0.0.1:1/none is not available: "
    )
    assert "secret" not in result.stderr


def test_parquet_without_pyarrow_says_which_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import service.rescore.cli as rescore_cli

    monkeypatch.setattr(rescore_cli, "find_spec", lambda name: None)
    (tmp_path / "in.csv").write_text("text\nthx\n")
    result = CliRunner().invoke(
        main, ["rescore", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet")]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Parquet needs pyarrow, which this install lacks: "
        "pip install 'feedback-classifier[parquet]'\n"
    )
