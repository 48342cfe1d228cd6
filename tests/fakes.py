"""A small deterministic classifier behind the service's ``Scorer`` interface.

It labels by keyword, so API tests know every expected body exactly, and it records the
size of each call, so tests can see micro-batching happen.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from model.artifact import ArtifactMeta

FAKE_VERSION = "2026.01.01-fake0001"
FAKE_METRICS = {"test": {"macro_f1": 0.5}}

# poor, good, outstanding
SCORES = {
    "poor": [0.8, 0.15, 0.05],
    "good": [0.1, 0.7, 0.2],
    "outstanding": [0.01, 0.08, 0.91],
}
TRUNCATE_AT = 200  # characters: longer texts report truncated=True


def fake_label(text: str) -> str:
    lowered = text.lower()
    if "blown away" in lowered or "wow" in lowered:
        return "outstanding"
    if "useless" in lowered or "never" in lowered:
        return "poor"
    return "good"


def fake_meta() -> ArtifactMeta:
    return ArtifactMeta(
        version=FAKE_VERSION,
        id2label={0: "poor", 1: "good", 2: "outstanding"},
        base_model={"name": "fake"},
        max_length=256,
        temperature=1.0,
        model_id="fake-classifier",
        metrics=FAKE_METRICS,
        created_at="2026-01-01T00:00:00Z",
    )


class FakeClassifier:
    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.meta = fake_meta()
        self.calls: list[int] = []
        self.delay = delay
        self.fail_on = fail_on
        self.release = threading.Event()  # set it to let a paused call go on
        self.release.set()
        self.entered = threading.Event()  # set by every call, as it starts

    @property
    def version(self) -> str:
        return self.meta.version

    def predict_scores(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        batch_tokens: int = 2048,
        call_cost: int | None = None,
    ) -> tuple[np.ndarray, list[bool]]:
        self.entered.set()
        self.release.wait(timeout=10)
        if self.delay:
            threading.Event().wait(self.delay)
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise RuntimeError("the fake model was told to fail")
        self.calls.append(len(texts))
        probs = np.array([SCORES[fake_label(t)] for t in texts], dtype=np.float32)
        return probs.reshape(len(texts), 3), [len(t) > TRUNCATE_AT for t in texts]
