from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_CSV = FIXTURES / "labelled_small.csv"


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
