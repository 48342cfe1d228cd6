"""Near-duplicate detection: character n-gram TF-IDF cosine similarity between comments."""

from __future__ import annotations

import re
from collections.abc import Sequence

THRESHOLD = 0.85


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text.lower())).strip()


def near_duplicate_pairs(
    texts: Sequence[str], threshold: float = THRESHOLD, others: Sequence[str] | None = None
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, similarity)`` at or above ``threshold``.

    Within ``texts`` (i < j), or between ``texts`` and ``others`` (j indexes ``others``).
    Comments of one to three words ("ok", "thx") repeat naturally and are compared only
    for exact equality after normalisation.

    >>> near_duplicate_pairs(["The driver was so kind, thank you!", "the driver was so kind thank you", "ok"])
    [(0, 1, 1.0)]
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    pool = list(texts) + list(others or [])
    vectors = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), preprocessor=normalise
    ).fit_transform(pool)
    left = vectors[: len(texts)]
    right = vectors[len(texts) :] if others is not None else left
    similarity = (left @ right.T).tocoo()
    short = [len(normalise(t).split()) <= 3 for t in pool]
    pairs = []
    for i, j, s in zip(similarity.row, similarity.col, similarity.data, strict=True):
        j_pool = j + len(texts) if others is not None else j
        if others is None and j <= i:
            continue
        if s < threshold:
            continue
        if (short[i] or short[j_pool]) and normalise(pool[i]) != normalise(pool[j_pool]):
            continue
        pairs.append((int(i), int(j), round(float(s), 4)))
    return sorted(pairs)
