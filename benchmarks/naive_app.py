"""The naive baseline: a FastAPI app that calls ``transformers.pipeline`` once per request.

This is how such a service is usually first written, and the kind of app the issue's
figures describe (about 70 req/s, p99 about 600 ms at 32 connections, 500 MB). It serves
the same size of model as ours, in fp32 torch with the pipeline's defaults:

- ``pipeline("text-classification")`` needs a ``BertForSequenceClassification`` folder, so
  :func:`export_hf_folder` writes one into a temporary folder from our built model: our
  merged encoder (all-MiniLM-L6-v2 with the LoRA adapters folded in) and our 384 -> 3 head
  as its classifier.
- The architectures differ in one place. Ours mean-pools the token states;
  ``BertForSequenceClassification`` reads the [CLS] state through BERT's pooler (a 384 x 384
  dense layer and tanh), taken here from the base all-MiniLM-L6-v2. Its labels are
  therefore not ours and are not compared; the work per comment (six layers of 384 wide,
  the same tokenizer) is the same, plus one 384 x 384 matrix-vector product.

Run it (``serve_bench.py`` does this for you)::

    BASELINE_MODEL_DIR=$(mktemp -d) .venv/bin/python -m benchmarks.naive_app --export
    BASELINE_MODEL_DIR=... .venv/bin/uvicorn benchmarks.naive_app:app --port 8001

It needs the ``build`` extra (torch, transformers), which the service itself does not.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from model.build import TOKENIZER_FILE, TORCH_CONFIG, TORCH_WEIGHTS, base_model_dir, ensure_built
from model.labels import LABELS

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "model" / "default"
ENCODER_PREFIX = "encoder."
HEAD_PREFIX = "head."


def export_hf_folder(artifact: str | Path, out: str | Path) -> Path:
    """Write a ``BertForSequenceClassification`` folder with our encoder and head weights."""
    from safetensors.numpy import load_file, save_file

    built = ensure_built(artifact)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ours = load_file(str(built / TORCH_WEIGHTS))
    base = load_file(str(base_model_dir() / "model.safetensors"))
    state: dict[str, Any] = {}
    for key, value in ours.items():
        if key.startswith(ENCODER_PREFIX):
            state["bert." + key[len(ENCODER_PREFIX) :]] = value
        elif key.startswith(HEAD_PREFIX):
            state["classifier." + key[len(HEAD_PREFIX) :]] = value
    # Our network has no pooler (it mean-pools); BERT's comes from the base encoder.
    for key in ("pooler.dense.weight", "pooler.dense.bias"):
        state["bert." + key] = base[key]
    save_file(state, str(out / "model.safetensors"))

    config = json.loads((built / TORCH_CONFIG).read_text(encoding="utf-8"))
    config.update(
        architectures=["BertForSequenceClassification"],
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    shutil.copyfile(built / TOKENIZER_FILE, out / TOKENIZER_FILE)
    # The tokenizer's settings (lower-casing, 512-token window) from the base encoder.
    for name in ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (base_model_dir() / name).is_file():
            shutil.copyfile(base_model_dir() / name, out / name)
    return out


def _model_dir() -> str:
    folder = os.environ.get("BASELINE_MODEL_DIR")
    if not folder:
        raise SystemExit("set BASELINE_MODEL_DIR to a folder written by `--export`")
    return folder


class ClassifyRequest(BaseModel):
    text: str


class Document(BaseModel):
    id: str | None = None
    text: str


class BatchRequest(BaseModel):
    documents: list[Document]


classifier: Any = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global classifier
    from transformers import pipeline

    # The usual first version: the pipeline defaults (fp32 torch, all cores, no batching).
    classifier = pipeline("text-classification", model=_model_dir(), top_k=None, truncation=True)
    yield


app = FastAPI(title="naive baseline", lifespan=lifespan)


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/classify")
def classify(body: ClassifyRequest) -> dict[str, Any]:
    # A sync endpoint: FastAPI runs it on its threadpool, one pipeline call per request.
    (out,) = classifier([body.text])
    scores = {s["label"]: s["score"] for s in out}
    return {"label": max(scores, key=scores.__getitem__), "scores": scores, "truncated": False}


@app.post("/v1/classify/batch")
def classify_batch(body: BatchRequest) -> dict[str, Any]:
    # The pipeline over the list, with its default batch_size (1).
    outputs = classifier([doc.text for doc in body.documents])
    results = []
    for doc, out in zip(body.documents, outputs, strict=True):
        scores = {s["label"]: s["score"] for s in out}
        results.append(
            {"id": doc.id, "label": max(scores, key=scores.__getitem__), "scores": scores}
        )
    return {"results": results}


if __name__ == "__main__":
    if sys.argv[1:] != ["--export"]:
        raise SystemExit("usage: BASELINE_MODEL_DIR=DIR python -m benchmarks.naive_app --export")
    print(export_hf_folder(DEFAULT_MODEL, _model_dir()))
