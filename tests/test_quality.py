"""The committed default model on the separately written test split and the guide's examples."""

from __future__ import annotations

import numpy as np
import pytest

from model import Classifier
from training.data import load_corpus
from training.evaluate import evaluate

pytestmark = pytest.mark.slow

# The examples table of LABELING.md, verbatim.
GUIDE_EXAMPLES = [
    ("An exchange! I was supposed to use this as a gift tonight. I can't use this.", "poor"),
    ("Well, an exchange would be great. I really appreciate your help.", "good"),
    (
        "No, this is awesome. I am keeping this one. I also want the colour I ordered, though.",
        "outstanding",
    ),
    ("I can't believe you had that waiting on me, I am blown away.", "outstanding"),
    ("Jane really makes every visit a pleasure; make sure you keep her.", "outstanding"),
    (
        "I've been getting this type of service for twenty years; this is the first time anyone "
        "has ever listened to what I was saying.",
        "outstanding",
    ),
]


@pytest.fixture(scope="module")
def default_model() -> Classifier:
    return Classifier.load()


def test_every_guide_example_is_right(default_model: Classifier) -> None:
    predicted = [p.label for p in default_model.predict([text for text, _ in GUIDE_EXAMPLES])]
    assert predicted == [label for _, label in GUIDE_EXAMPLES]


def test_test_split_targets(default_model: Classifier) -> None:
    report = evaluate(
        default_model, load_corpus("test"), "test.jsonl", baseline_train=load_corpus("train")
    )
    best_baseline = max(b["macro_f1"] for b in report.baselines.values())
    assert report.model["macro_f1"] >= 0.90, report.render()
    assert report.model["macro_f1"] - best_baseline >= 0.15, report.render()


def test_int8_agrees_with_fp32_on_the_dev_split(default_model: Classifier) -> None:
    texts = [e.text for e in load_corpus("dev")]
    fp32 = Classifier.load(backend="onnx-fp32").predict_scores(texts)[0].argmax(1)
    int8 = default_model.predict_scores(texts)[0].argmax(1)
    assert np.mean(fp32 == int8) >= 0.99
