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

# Known gap of model 2026.11.24-27f2050a: examples 1 and 3 are spoken, in-store reactions,
# a register the written-feedback corpus lacks (example 2, also spoken, is right but close:
# good 0.49 vs poor 0.50 when batched with the others). Strict: a model that gets them
# right makes these fail until the mark is removed.
SPOKEN_GAP = pytest.mark.xfail(
    strict=True, reason="spoken in-store reactions are not in the corpus yet"
)
GUIDE_CASES = [
    pytest.param(text, label, marks=SPOKEN_GAP if i in (0, 2) else (), id=f"example-{i + 1}")
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
    reason="TF-IDF + LR reaches 0.942 macro-F1 on the synthetic test split (model 0.946): "
    "the split is lexically easy; a harder, more realistic test split is needed",
)
def test_margin_over_the_best_baseline(test_report: Report) -> None:
    best_baseline = max(b["macro_f1"] for b in test_report.baselines.values())
    assert test_report.model["macro_f1"] - best_baseline >= 0.15, test_report.render()


def test_int8_agrees_with_fp32_on_the_dev_split(default_model: Classifier) -> None:
    texts = [e.text for e in load_corpus("dev")]
    fp32 = Classifier.load(backend="onnx-fp32").predict_scores(texts)[0].argmax(1)
    int8 = default_model.predict_scores(texts)[0].argmax(1)
    assert np.mean(fp32 == int8) >= 0.99
