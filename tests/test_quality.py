"""The committed default model on its two test splits and the guide's examples.

- the separately written test split (training/data/test.jsonl);
- real NHS comments labelled by hand (training/data/nhs-test.jsonl; texts read from
  ../shared/data/nhs-fft).

Baselines are fit on the model's own training data, rebuilt from its artifact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model import Classifier
from model.artifact import DEFAULT_ARTIFACT, read_meta
from training.data import Example, load_corpus
from training.evaluate import Report, evaluate
from training.nhs import load_nhs_test

SHARED_NHS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhs-fft"

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

# Known gap of model 2026.11.24-*: examples 2 and 3 are wrong. Both are spoken reactions in
# a shop whose words point the other way: "Well, an exchange would be great. I really
# appreciate your help." (good) reads as sarcasm, and "No, this is awesome. I am keeping
# this one. I also want the colour I ordered, though." (outstanding) as a complaint.
# Strict: a model that gets them right makes these fail until the mark is removed.
GUIDE_GAP = pytest.mark.xfail(
    strict=True, reason="spoken in-store reactions whose words point the other way are misread"
)
GUIDE_CASES = [
    pytest.param(text, label, marks=GUIDE_GAP if i in (1, 2) else (), id=f"example-{i + 1}")
    for i, (text, label) in enumerate(GUIDE_EXAMPLES)
]


@pytest.fixture(scope="module")
def default_model() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="module")
def baseline_train() -> list[Example]:
    from training.train import training_data_of

    if not SHARED_NHS.is_dir():
        pytest.skip("../shared/data/nhs-fft is not beside this checkout")
    return training_data_of(read_meta(DEFAULT_ARTIFACT), SHARED_NHS)


@pytest.fixture(scope="module")
def test_report(default_model: Classifier, baseline_train: list[Example]) -> Report:
    return evaluate(default_model, load_corpus("test"), "test.jsonl", baseline_train)


@pytest.fixture(scope="module")
def real_report(default_model: Classifier, baseline_train: list[Example]) -> Report:
    return evaluate(default_model, load_nhs_test(SHARED_NHS), "nhs-test.jsonl", baseline_train)


@pytest.mark.parametrize(("text", "label"), GUIDE_CASES)
def test_guide_example(default_model: Classifier, text: str, label: str) -> None:
    assert default_model.predict([text])[0].label == label


def test_test_split_macro_f1(test_report: Report) -> None:
    assert test_report.model["macro_f1"] >= 0.90, test_report.render()


@pytest.mark.xfail(
    strict=True,
    reason="TF-IDF + LR reaches 0.878 macro-F1 on the written test split (model 0.913): "
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


@pytest.mark.xfail(
    strict=True,
    reason="0.762 on real NHS comments: outstanding is found only half the time (recall 0.47)",
)
def test_real_comments_macro_f1(real_report: Report) -> None:
    assert real_report.model["macro_f1"] >= 0.90, real_report.render()


@pytest.mark.xfail(strict=True, reason="+0.109 over TF-IDF + LR (0.652) on real comments")
def test_margin_over_the_best_baseline_on_real_comments(real_report: Report) -> None:
    best_baseline = max(b["macro_f1"] for b in real_report.baselines.values())
    assert real_report.model["macro_f1"] - best_baseline >= 0.15, real_report.render()
