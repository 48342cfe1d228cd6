"""The model library on a tiny real artifact: load, predict, round-trip, build, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import ArtifactError, Classifier, InputError
from model.artifact import read_meta
from model.bucketing import plan_batches
from model.build import BUILT_FILES, MANIFEST_FILE, build, ensure_built
from model.classifier import softmax
from model.labels import LABELS
from model.tokenizer import TextEncoder

TEXTS = [
    "Waited two hours and nobody called back.",
    "thx, sorted",
    "WOW! She drove it over herself 😍",
]


def test_predictions_carry_label_scores_and_flag(tiny_artifact: Path) -> None:
    clf = Classifier.load(tiny_artifact)
    preds = clf.predict(TEXTS)
    assert len(preds) == 3
    for pred in preds:
        assert list(pred.scores) == list(LABELS)
        assert sum(pred.scores.values()) == pytest.approx(1.0, abs=1e-4)
        assert pred.label == max(pred.scores, key=lambda k: pred.scores[k])
        assert pred.truncated is False


@pytest.mark.parametrize(("backend", "atol"), [("onnx-fp32", 1e-5), ("onnx", 0.05)])
def test_order_is_kept_whatever_the_batching(
    tiny_artifact: Path, backend: str, atol: float
) -> None:
    # int8 quantises activations per batch, so its scores move a little with batch mates.
    clf = Classifier.load(tiny_artifact, backend=backend)
    texts = [f"{'very ' * (i % 7)}slow reply number {i}" for i in range(40)]
    one_by_one = np.vstack([clf.predict_scores([t])[0] for t in texts])
    batched, _ = clf.predict_scores(texts, batch_size=8)
    np.testing.assert_allclose(batched, one_by_one, atol=atol)


def test_long_text_is_truncated_head_and_tail_and_flagged(tiny_artifact: Path) -> None:
    clf = Classifier.load(tiny_artifact)
    encoder = clf.encoder
    long_text = "start " + "middle " * 600 + "ending"
    rows = encoder.token_ids([long_text, "short"])
    (ids, truncated), (_, short_truncated) = rows
    assert (len(ids), truncated, short_truncated) == (clf.meta.max_length, True, False)
    start = encoder._tok.token_to_id("start")
    ending = encoder._tok.encode("ending", add_special_tokens=False).ids
    assert ids[1] == start
    assert ids[-1 - len(ending) : -1] == ending
    assert clf.predict([long_text])[0].truncated is True


def test_bad_texts_raise_input_errors(tiny_artifact: Path) -> None:
    clf = Classifier.load(tiny_artifact)
    with pytest.raises(InputError, match="text 1 is empty"):
        clf.predict(["fine", "  "])
    with pytest.raises(InputError, match="text 0 is int, not a string"):
        clf.predict([3])  # type: ignore[list-item]
    assert clf.predict([]) == []


def test_save_load_round_trip_gives_identical_predictions_and_metadata(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_artifact, copy, ignore=shutil.ignore_patterns("build"))
    original, reloaded = Classifier.load(tiny_artifact), Classifier.load(copy)  # rebuilds the copy
    assert reloaded.meta == original.meta
    assert (copy / "build" / MANIFEST_FILE).is_file()
    assert original.predict(TEXTS) == reloaded.predict(TEXTS)


def test_export_is_deterministic(tiny_artifact: Path, tmp_path: Path) -> None:
    first = build(tiny_artifact, tmp_path / "a")
    second = build(tiny_artifact, tmp_path / "b")
    assert first == second
    assert sorted(first["files"]) == sorted(BUILT_FILES)


def test_backends_agree(tiny_artifact: Path) -> None:
    torch_scores, _ = Classifier.load(tiny_artifact, backend="torch").predict_scores(TEXTS)
    fp32_scores, _ = Classifier.load(tiny_artifact, backend="onnx-fp32").predict_scores(TEXTS)
    int8_scores, _ = Classifier.load(tiny_artifact, backend="onnx").predict_scores(TEXTS)
    np.testing.assert_allclose(fp32_scores, torch_scores, atol=1e-4)
    np.testing.assert_allclose(int8_scores, torch_scores, atol=0.05)


def test_loading_builds_once_and_reuses_the_build(tiny_copy: Path) -> None:
    built = ensure_built(tiny_copy)
    stamp = (built / "model.int8.onnx").stat().st_mtime_ns
    assert ensure_built(tiny_copy) == built
    assert (built / "model.int8.onnx").stat().st_mtime_ns == stamp


def test_a_stale_build_is_rebuilt(tiny_copy: Path) -> None:
    built = ensure_built(tiny_copy)
    manifest = json.loads((built / MANIFEST_FILE).read_text())
    manifest["version"] = "something-else"
    (built / MANIFEST_FILE).write_text(json.dumps(manifest))
    ensure_built(tiny_copy)
    assert (
        json.loads((built / MANIFEST_FILE).read_text())["version"] == read_meta(tiny_copy).version
    )


def test_a_damaged_onnx_file_is_a_clear_error_and_deleting_the_build_mends_it(
    tiny_copy: Path,
) -> None:
    built = ensure_built(tiny_copy)
    onnx_file = built / "model.int8.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])  # cut short, as by a full disk
    with pytest.raises(ArtifactError) as err:
        Classifier.load(tiny_copy)
    assert str(err.value).startswith(f"ONNX Runtime cannot load {onnx_file} (")
    assert str(err.value).endswith(
        f"the file is damaged or incomplete. Delete {built} and load the model again to rebuild it."
    )
    shutil.rmtree(built)
    assert Classifier.load(tiny_copy).predict(["thanks, sorted"])[0].label in LABELS


def test_artifact_with_other_labels_is_refused(tiny_copy: Path) -> None:
    meta_path = tiny_copy / "artifact.json"
    raw = json.loads(meta_path.read_text())
    raw["id2label"] = {"0": "negative", "1": "neutral", "2": "positive"}
    meta_path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="not a poor/good/outstanding model"):
        Classifier.load(tiny_copy)


def test_calibration_offsets_are_applied_and_optional(tiny_copy: Path) -> None:
    meta_path = tiny_copy / "artifact.json"
    raw = json.loads(meta_path.read_text())
    raw["bias"] = [0.0, 0.0, 40.0]  # a huge offset: every comment becomes outstanding
    meta_path.write_text(json.dumps(raw))
    assert {p.label for p in Classifier.load(tiny_copy).predict(TEXTS)} == {"outstanding"}
    del raw["bias"]  # artifacts made before the offsets existed: temperature only
    meta_path.write_text(json.dumps(raw))
    clf = Classifier.load(tiny_copy)
    assert clf.meta.bias == [0.0, 0.0, 0.0]
    rows = clf.encoder.token_ids(TEXTS[:1])
    encoded = clf.encoder.pad(rows)
    logits = clf.backend.logits(encoded.input_ids, encoded.attention_mask)
    np.testing.assert_allclose(
        clf.predict_scores(TEXTS[:1])[0], softmax(logits, clf.meta.temperature), rtol=1e-6
    )


def test_calibration_offsets_must_match_the_labels(tiny_copy: Path) -> None:
    meta_path = tiny_copy / "artifact.json"
    raw = json.loads(meta_path.read_text())
    raw["bias"] = [0.0, 0.1]
    meta_path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="bias must hold one offset per label"):
        Classifier.load(tiny_copy)


def test_missing_artifact_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist or is not a folder"):
        Classifier.load(tmp_path / "nowhere")
    with pytest.raises(ArtifactError, match=r"has no artifact\.json"):
        Classifier.load(tmp_path)


def test_unknown_backend_is_refused(tiny_artifact: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        Classifier.load(tiny_artifact, backend="tensorrt")


def test_encoder_pads_and_masks(tiny_artifact: Path) -> None:
    encoder = TextEncoder.from_file(tiny_artifact / "build" / "tokenizer.json", 16)
    encoded = encoder.encode(["ok", "this one is longer"])
    assert encoded.input_ids.shape == encoded.attention_mask.shape
    assert encoded.attention_mask[0].tolist() == [1, 1, 1] + [0] * (encoded.input_ids.shape[1] - 3)
    assert encoded.input_ids[0, 0] == encoder.cls_id
    assert encoded.input_ids[0, 2] == encoder.sep_id


def test_built_tokenizer_uses_the_model_window_not_the_base_one(tiny_artifact: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_artifact / "build" / "tokenizer.json"))
    window = read_meta(tiny_artifact).max_length
    long_texts = ["word " * 600, "ok"]
    lengths = [len(e.ids) for e in tokenizer.encode_batch(long_texts)]
    masks = [sum(e.attention_mask) for e in tokenizer.encode_batch(long_texts)]
    assert (lengths, masks) == ([window, window], [window, 3])


def test_plan_batches_respects_both_budgets() -> None:
    lengths = [10, 200, 12, 11, 9, 13, 10]
    batches = plan_batches(lengths, max_batch=3, max_tokens=64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 64
    assert [1] in batches  # the long one alone


def test_plan_batches_by_call_cost_groups_similar_lengths() -> None:
    # Well within both budgets, so filling makes one batch padded to 61 tokens; with a cost
    # per call the short rows are not padded to the long ones' length.
    lengths = [12, 60, 11, 58, 13, 59, 10, 61]
    assert len(plan_batches(lengths, max_batch=64, max_tokens=4096)) == 1
    batches = plan_batches(lengths, max_batch=64, max_tokens=4096, call_cost=32)
    assert sorted(sorted(b) for b in batches) == [[0, 2, 4, 6], [1, 3, 5, 7]]
    # When another call costs more than the padding it saves, rows share one.
    assert plan_batches([10, 11, 12], max_batch=64, max_tokens=4096, call_cost=32) == [[0, 1, 2]]
    # Both budgets still hold.
    lengths = [10, 200, 12, 11, 9, 13, 10]
    batches = plan_batches(lengths, max_batch=3, max_tokens=64, call_cost=32)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(
        len(b) <= 3 and (len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 64) for b in batches
    )
    assert [1] in batches


def test_softmax_with_temperature() -> None:
    logits = np.array([[2.0, 0.0, 0.0]])
    assert softmax(logits, 1.0)[0, 0] > softmax(logits, 2.0)[0, 0] > 1 / 3


def test_softmax_offsets_move_the_label() -> None:
    logits = np.array([[2.0, 0.0, 1.5]])
    assert softmax(logits, 2.0).argmax() == 0
    shifted = softmax(logits, 2.0, [0.0, 0.0, 0.5])
    assert shifted.argmax() == 2
    np.testing.assert_allclose(shifted.sum(), 1.0, rtol=1e-6)


def test_threads_that_sleep_instead_of_spinning_give_the_same_scores(tiny_artifact: Path) -> None:
    spinning = Classifier.load(tiny_artifact).predict_scores(TEXTS)[0]
    sleeping = Classifier.load(tiny_artifact, spin=False).predict_scores(TEXTS)[0]
    np.testing.assert_array_equal(sleeping, spinning)
