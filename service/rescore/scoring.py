"""Scoring one chunk, the same way in every engine: check each row's text, tokenise the
good ones, run the model on length-bucketed batches, and build the output rows.

Both engines call :func:`prepare` then :func:`score` on whole chunks, so a comment is
batched with the same neighbours whichever engine scores it (see ``sources``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from model.classifier import Classifier, Prediction, to_prediction
from model.labels import LABELS
from model.tokenizer import TextEncoder

SCORE_COLUMNS = tuple(f"score_{label}" for label in LABELS)
# Added to every output row; an input column of the same name is replaced.
ADDED_COLUMNS = ("label", *SCORE_COLUMNS, "truncated", "model_version")


def text_problem(row: Mapping[str, Any], column: str, broken: str | None = None) -> str | None:
    """Why ``row`` cannot be scored (the rejects file's reason), or None if it can.

    >>> text_problem({"text": "  "}, "text")
    "'text' is blank"
    >>> text_problem({"text": 5}, "text")
    "'text' is a number, not text"
    """
    if broken is not None:
        return broken
    if column not in row:
        return f"{column!r} is missing"
    value = row[column]
    if value is None:
        return f"{column!r} is null"
    if not isinstance(value, str):
        return f"{column!r} is {_kind(value)}, not text"
    if not value.strip():
        return f"{column!r} is blank"
    return None


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Prepared:
    """A chunk's problems (None where the row can be scored) and its good rows' token ids."""

    problems: list[str | None]
    token_rows: list[tuple[list[int], bool]]


def prepare(
    texts: Sequence[object], problems: Sequence[str | None], encoder: TextEncoder
) -> Prepared:
    """Tokenise the texts of the rows without a problem (CPU work that can run in a thread)."""
    good = [str(text) for text, problem in zip(texts, problems, strict=True) if problem is None]
    return Prepared(list(problems), encoder.token_ids(good) if good else [])


def score(prepared: Prepared, classifier: Classifier) -> list[Prediction | None]:
    """Predictions in row order; None for the rows with a problem."""
    probs, truncated = classifier.predict_token_ids(prepared.token_rows)
    scored = iter([to_prediction(p, t) for p, t in zip(probs, truncated, strict=True)])
    return [next(scored) if problem is None else None for problem in prepared.problems]


def added_values(prediction: Prediction | None, version: str) -> dict[str, Any]:
    """The added columns of one row; all empty (None) for a rejected row."""
    if prediction is None:
        return dict.fromkeys(ADDED_COLUMNS)
    values: dict[str, Any] = {"label": prediction.label}
    values.update({f"score_{label}": prediction.scores[label] for label in LABELS})
    values["truncated"] = prediction.truncated
    values["model_version"] = version
    return values


def output_row(
    row: Mapping[str, Any], prediction: Prediction | None, version: str
) -> dict[str, Any]:
    """The input row with the added columns after its own (replacing any of the same name)."""
    out = {key: value for key, value in row.items() if key not in ADDED_COLUMNS}
    out.update(added_values(prediction, version))
    return out
