"""Resumable runs: the ``<OUTPUT>.partial`` work folder and its checkpoint.

While a run writes ``out.csv`` it works in ``out.csv.partial/``: the output so far
(``output.csv``, or Parquet ``parts/``), the rejects so far (``rejects.csv``) and
``checkpoint.json``. After each chunk the output and rejects are flushed and fsynced, then
the checkpoint is replaced atomically (write, fsync, rename, fsync the folder). So whenever
the run dies, even by ``kill -9`` or a power cut, the checkpoint names a state that is
fully on disk; bytes written after it are cut off on resume and those rows done again.
When every row is done the output and rejects are renamed into place and the folder goes.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from service.rescore.errors import RescoreError

CHECKPOINT_FILE = "checkpoint.json"
REJECTS_FILE = "rejects.csv"
PARTS_DIR = "parts"


@dataclass
class Checkpoint:
    """What a run is (``job``) and how far it got: everything up to ``rows`` is on disk."""

    job: dict[str, Any]
    rows: int = 0
    input_offset: int | None = None
    output: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    complete: bool = False

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Checkpoint:
        return cls(
            job=dict(raw["job"]),
            rows=int(raw["rows"]),
            input_offset=raw.get("input_offset"),
            output=dict(raw.get("output", {})),
            rejects=dict(raw.get("rejects", {})),
            rejected=int(raw.get("rejected", 0)),
            complete=bool(raw.get("complete", False)),
        )


class WorkDir:
    """The ``<OUTPUT>.partial`` folder of a run writing ``output``."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = output.with_name(output.name + ".partial")

    def data_file(self, fmt: str) -> Path:
        return self.path / f"output.{fmt}"

    @property
    def parts(self) -> Path:
        return self.path / PARTS_DIR

    @property
    def rejects(self) -> Path:
        return self.path / REJECTS_FILE

    def exists(self) -> bool:
        return (self.path / CHECKPOINT_FILE).is_file()

    def create(self) -> None:
        """Start a fresh run; refuse to overwrite an unfinished one."""
        if self.path.exists():
            raise RescoreError(
                f"{self.path} holds an unfinished run: pass --resume to continue it, "
                "or delete that folder to start again"
            )
        if not self.output.parent.is_dir():
            raise RescoreError(f"output folder {self.output.parent} does not exist")
        self.path.mkdir()

    def load(self) -> Checkpoint:
        try:
            raw = json.loads((self.path / CHECKPOINT_FILE).read_text(encoding="utf-8"))
            return Checkpoint.from_dict(raw)
        except FileNotFoundError as exc:
            raise RescoreError(
                f"nothing to resume: {self.path} has no checkpoint (run without --resume)"
            ) from exc
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise RescoreError(f"{self.path / CHECKPOINT_FILE} is damaged: {exc}") from exc

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint atomically and durably."""
        target = self.path / CHECKPOINT_FILE
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(asdict(checkpoint), handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(self.path)

    def remove(self) -> None:
        shutil.rmtree(self.path)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_into_place(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (atomic on one filesystem; copied across filesystems)."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # --rejects on another filesystem than the output
            raise
        shutil.move(src, dst)
    fsync_dir(dst.parent)


def open_output(path: Path, resume_at: int | None) -> IO[bytes]:
    """Open ``path`` to write: new, or (resuming) cut back to ``resume_at`` bytes to append."""
    if resume_at is None:
        return open(path, "wb")
    if not path.is_file():
        raise RescoreError(f"cannot resume: {path} is missing from the unfinished run")
    handle = open(path, "r+b")  # noqa: SIM115 - the sink closes it
    handle.truncate(resume_at)
    handle.seek(resume_at)
    return handle
