"""``Classifier``: load a model artifact and label comments with calibrated scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.artifact import DEFAULT_ARTIFACT, ArtifactMeta, read_meta
from model.backends import BACKENDS, Backend, open_backend, required_files
from model.bucketing import plan_batches
from model.build import TOKENIZER_FILE, ensure_built
from model.errors import InputError
from model.labels import LABELS
from model.tokenizer import TextEncoder

DEFAULT_BATCH_SIZE = 32
# Padded tokens per batch: 32 rows of 64 tokens. Keeps one long text from padding many short ones.
DEFAULT_BATCH_TOKENS = 2048


@dataclass(frozen=True)
class Prediction:
    """One comment's label, the calibrated probability of every label, and whether it was cut."""

    label: str
    scores: dict[str, float]
    truncated: bool


def softmax(
    logits: np.ndarray, temperature: float = 1.0, bias: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Probabilities of ``logits / temperature + bias``, row by row."""
    z = logits.astype(np.float64) / temperature
    if bias is not None:
        z += np.asarray(bias, dtype=np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def check_texts(texts: Sequence[object]) -> list[str]:
    """Every text must be a non-blank string; the error names the first bad one by index."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i} is {type(text).__name__}, not a string")
        if not text.strip():
            raise InputError(f"text {i} is empty")
    return list(texts)  # type: ignore[arg-type]


class Classifier:
    """A loaded model: tokenizer, backend and calibration.

    >>> clf = Classifier.load()                                   # doctest: +SKIP
    >>> [p.label for p in clf.predict(["thx, sorted", "useless"])]  # doctest: +SKIP
    ['good', 'poor']
    """

    def __init__(self, meta: ArtifactMeta, encoder: TextEncoder, backend: Backend) -> None:
        self.meta = meta
        self.encoder = encoder
        self.backend = backend
        self._bias = np.asarray(meta.bias, dtype=np.float64)  # once, not per batch

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_ARTIFACT,
        backend: str = "onnx",
        build_dir: str | Path | None = None,
        threads: int | None = None,
        spin: bool = False,
    ) -> Classifier:
        """Load an artifact folder, building its full model and ONNX files first if missing.

        ``backend`` is ``onnx`` (int8, default), ``onnx-fp32`` or ``torch``; ``threads``
        defaults to the cores available. Idle ONNX Runtime threads sleep (``spin=True``:
        they busy-wait, a little faster only on cores nothing else uses).
        """
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        meta = read_meta(path)
        built = ensure_built(path, build_dir, required_files(backend))
        encoder = TextEncoder.from_file(built / TOKENIZER_FILE, meta.max_length)
        return cls(meta, encoder, open_backend(backend, built, threads, spin))

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS

    def predict_scores(
        self,
        texts: Sequence[str],
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        call_cost: int | None = None,
    ) -> tuple[np.ndarray, list[bool]]:
        """Calibrated probabilities ``[n, 3]`` (columns in ``LABELS`` order) and truncated flags.

        ``call_cost`` cuts batches where padding costs more than another model call (see
        ``plan_batches``); the default fills batches as the recorded evaluations did. The
        int8 backend quantises activations per batch, so how texts are batched moves
        their scores a little (and, for about 1% of them, the label).
        """
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(LABELS)), dtype=np.float32), []
        return self.predict_token_ids(
            self.encoder.token_ids(texts), batch_size, batch_tokens, call_cost
        )

    def predict_token_ids(
        self,
        rows: Sequence[tuple[list[int], bool]],
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        call_cost: int | None = None,
    ) -> tuple[np.ndarray, list[bool]]:
        """:meth:`predict_scores` on rows already tokenised by ``self.encoder.token_ids``.

        Lets a caller tokenise the next texts in another thread while these run.

        >>> rows = clf.encoder.token_ids(["thx, sorted"])   # doctest: +SKIP
        >>> clf.predict_token_ids(rows)[0].shape           # doctest: +SKIP
        (1, 3)
        """
        probs = np.empty((len(rows), len(LABELS)), dtype=np.float32)
        lengths = [len(ids) for ids, _ in rows]
        for batch in plan_batches(lengths, batch_size, batch_tokens, call_cost):
            encoded = self.encoder.pad([rows[i] for i in batch])
            logits = self.backend.logits(encoded.input_ids, encoded.attention_mask)
            probs[batch] = softmax(logits, self.meta.temperature, self._bias)
        return probs, [truncated for _, truncated in rows]

    def predict(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> list[Prediction]:
        """Label each text; results are in input order."""
        probs, truncated = self.predict_scores(texts, batch_size)
        return [to_prediction(p, t) for p, t in zip(probs, truncated, strict=True)]


def to_prediction(probs: np.ndarray, truncated: bool) -> Prediction:
    scores = {label: round(float(p), 6) for label, p in zip(LABELS, probs, strict=True)}
    return Prediction(LABELS[int(np.argmax(probs))], scores, truncated)
