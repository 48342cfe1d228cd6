"""Baselines trained or run on the same data as the model, for the evaluation report.

- VADER: the lexicon's compound score, cut into three labels at the two thresholds that
  give the best macro-F1 on the training data;
- TF-IDF + logistic regression: word 1-2 grams and character 2-5 grams, trained on the
  training split with each comment's weight (the weakly labelled NHS comments count less).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.data import Example
from training.metrics import classification_metrics


class VaderBaseline:
    name = "VADER (thresholds fit on train)"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self.low, self.high = -0.05, 0.6

    def compound(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self._analyzer.polarity_scores(t)["compound"] for t in texts])

    def _cut(self, scores: np.ndarray, low: float, high: float) -> np.ndarray:
        return np.where(scores <= low, 0, np.where(scores >= high, 2, 1))

    def fit(self, examples: list[Example]) -> VaderBaseline:
        scores = self.compound([e.text for e in examples])
        gold = np.array([e.label for e in examples])
        grid = np.round(np.arange(-0.95, 0.96, 0.05), 2)
        best = (-1.0, self.low, self.high)
        for low in grid:
            for high in grid[grid > low]:
                f1 = classification_metrics(self._cut(scores, low, high), gold)["macro_f1"]
                if f1 > best[0]:
                    best = (f1, float(low), float(high))
        _, self.low, self.high = best
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self._cut(self.compound(texts), self.low, self.high)


class TfidfBaseline:
    name = "TF-IDF + logistic regression"

    def __init__(self, seed: int = 13) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        self._pipeline = make_pipeline(
            make_union(
                TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True),
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True
                ),
            ),
            LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=seed),
        )

    def fit(self, examples: list[Example]) -> TfidfBaseline:
        self._pipeline.fit(
            [e.text for e in examples],
            [e.label for e in examples],
            logisticregression__sample_weight=[e.weight for e in examples],
        )
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._pipeline.predict(list(texts)))
