from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_CSV = FIXTURES / "labelled_small.csv"

POSTGRES_HELP = (
    "FEEDBACK_TEST_POSTGRES_URL is not set; start a throwaway server with "
    '`eval "$(.venv/bin/python -m tests.pgcluster start)"` (CI: .ci/postgres.sh)'
)


def postgres_url() -> str:
    """The test server's URL; skips (with the reason shown) unless CI requires PostgreSQL."""
    url = os.environ.get("FEEDBACK_TEST_POSTGRES_URL")
    if url:
        return url
    if os.environ.get("FEEDBACK_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"FEEDBACK_REQUIRE_POSTGRES=1 but {POSTGRES_HELP}")
    pytest.skip(POSTGRES_HELP)


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built from the environment keep their SQLite file out of the working tree."""
    monkeypatch.setenv("FEEDBACK_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, object]]:
    """Settings for an empty database: SQLite in a temp folder, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield {"data_dir": tmp_path / "db"}
        return
    import psycopg

    base = postgres_url()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base else "?"
    yield {"database_url": f"{base}{joiner}options=-csearch_path%3D{schema}"}
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real artifact from a few training steps on the small fixture file (built once)."""
    from model.build import build
    from training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny") / "model"
    train(
        TrainConfig(
            output=out,
            train_files=[SMALL_CSV],
            text_column="comment",
            label_column="rating",
            dev_fraction=0.25,
            max_steps=4,
            batch_size=8,
            evals_per_epoch=1,
            threads=2,
        )
    )
    build(out, out / "build")
    return out


@pytest.fixture
def tiny_copy(tiny_artifact: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny artifact, without its build folder."""
    dst = tmp_path / "model"
    shutil.copytree(tiny_artifact, dst, ignore=shutil.ignore_patterns("build"))
    return dst
