"""``rescore --from-db``: re-label the comments the service has stored, in the database itself.

Every comment gets a prediction row under the new model version; older predictions stay
as they are (history). A comment already labelled by this version keeps its row (the
table has one prediction per comment and version), so an interrupted run can simply be run
again; ``--only-missing`` also skips reading and scoring those comments.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from sqlalchemy import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from model.classifier import Classifier, to_prediction
from service.rescore.errors import RescoreError
from service.rescore.progress import Progress
from service.settings import Settings
from service.storage import repository as repo
from service.storage.database import database_url, make_engine, shown
from service.storage.migrate import upgrade

T = TypeVar("T")


@dataclass
class DbSummary:
    version: str
    scored: int = 0
    already: int = 0
    rejected: int = 0

    def line(self) -> str:
        return (
            f"rescored {self.scored:,} stored comments under model {self.version} "
            f"({self.already:,} already had a prediction from it, {self.rejected:,} rejected)"
        )


def rescore_database(
    settings: Settings,
    model: Path,
    only_missing: bool = False,
    chunk_size: int = 1024,
    threads: int | None = None,
) -> DbSummary:
    """Add a prediction from ``model`` to every stored comment (or every one it lacks)."""
    url = database_url(settings)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise RescoreError(
            f"no database at {url.database}: set FEEDBACK_DATA_DIR (or FEEDBACK_DATABASE_URL) "
            "as the service has it"
        )
    engine = make_engine(url, settings.database_timeout_s)
    try:
        _db(url, lambda: upgrade(engine))
        # Load after the database answered: a wrong URL fails before the model's seconds.
        classifier = Classifier.load(model, threads=threads, spin=False)
        summary = DbSummary(classifier.version)
        skip = classifier.version if only_missing else None
        total = _db(url, lambda: _in(engine, lambda c: repo.count_to_rescore(c, skip)))
        progress = Progress(sys.stderr, total_rows=total)
        after = 0
        try:
            while True:
                batch = _db(url, partial(_in, engine, _page(after, chunk_size, skip)))
                if not batch:
                    return summary
                after = batch[-1].comment_id
                rejected = _score_and_store(engine, url, classifier, batch, summary)
                progress.advance(len(batch), rejected)
        finally:
            progress.close()
    finally:
        engine.dispose()


def _score_and_store(
    engine: Engine,
    url: URL,
    classifier: Classifier,
    batch: list[repo.PendingComment],
    summary: DbSummary,
) -> int:
    # Stored comments passed the service's checks; a blank one can only come from elsewhere.
    good = [c for c in batch if isinstance(c.text, str) and c.text.strip()]
    rejected = len(batch) - len(good)
    probs, truncated = classifier.predict_scores([c.text for c in good])
    rows = []
    for comment, p, cut in zip(good, probs, truncated, strict=True):
        prediction = to_prediction(p, cut)
        rows.append(
            repo.NewPrediction(
                comment.comment_id, prediction.label, prediction.scores, cut, classifier.version
            )
        )
    now = datetime.now(UTC)
    added = _db(url, lambda: _in(engine, lambda c: repo.add_predictions(c, rows, now)))
    summary.scored += len(added)
    summary.already += len(rows) - len(added)
    summary.rejected += rejected
    return rejected


def _page(
    after: int, size: int, skip: str | None
) -> Callable[[Connection], list[repo.PendingComment]]:
    return lambda conn: repo.comments_to_rescore(conn, after, size, skip)


def _in(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return fn(conn)


def _db(url: URL, step: Callable[[], T]) -> T:
    """Run a database step; an unreachable database becomes one clear error."""
    try:
        return step()
    except (OperationalError, DBAPIError) as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise RescoreError(f"the database at {shown(url)} is not available: {reason}") from exc
