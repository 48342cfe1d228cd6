"""The committed default model on the separately written test split and the guide's examples."""

from __future__ import annotations

import numpy as np
import pytest

from model import Classifier
from training.data import load_corpus
from training.evaluate import Report, evaluate

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

# Known gap of model 2026.11.24-f47c8f97: examples 1-3 are wrong. They are spoken, in-store
# reactions whose words point the other way ("An exchange!" reads as delight, "an exchange
# would be great" as poor, "this is awesome" followed by a request as plain praise). Strict:
# a model that gets them right makes these fail until the mark is removed.
GUIDE_GAP = pytest.mark.xfail(
    strict=True, reason="spoken in-store reactions whose words point the other way are misread"
)
GUIDE_CASES = [
    pytest.param(text, label, marks=GUIDE_GAP if i in (0, 1, 2) else (), id=f"example-{i + 1}")
    for i, (text, label) in enumerate(GUIDE_EXAMPLES)
]


@pytest.fixture(scope="module")
def default_model() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="module")
def test_report(default_model: Classifier) -> Report:
    return evaluate(
        default_model, load_corpus("test"), "test.jsonl", baseline_train=load_corpus("train")
    )


@pytest.mark.parametrize(("text", "label"), GUIDE_CASES)
def test_guide_example(default_model: Classifier, text: str, label: str) -> None:
    assert default_model.predict([text])[0].label == label


def test_test_split_macro_f1(test_report: Report) -> None:
    assert test_report.model["macro_f1"] >= 0.90, test_report.render()


@pytest.mark.xfail(
    strict=True,
    reason="TF-IDF + LR reaches 0.904 macro-F1 on the hard test split (model 0.920): the "
    "synthetic comments still carry their label in their vocabulary",
)
def test_margin_over_the_best_baseline(test_report: Report) -> None:
    best_baseline = max(b["macro_f1"] for b in test_report.baselines.values())
    assert test_report.model["macro_f1"] - best_baseline >= 0.15, test_report.render()


def test_int8_agrees_with_fp32_on_the_dev_split(default_model: Classifier) -> None:
    texts = [e.text for e in load_corpus("dev")]
    fp32 = Classifier.load(backend="onnx-fp32").predict_scores(texts)[0].argmax(1)
    int8 = default_model.predict_scores(texts)[0].argmax(1)
    assert np.mean(fp32 == int8) >= 0.99
