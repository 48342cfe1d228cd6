"""A model artifact: the small, committed part of a model version, and its metadata.

An artifact is a folder holding:

- ``artifact.json``: labels (``id2label``), base encoder, LoRA settings, calibration
  (temperature and per-label offsets), training config, data hashes, metrics and the version id;
- ``adapter.safetensors``: what differs from the base encoder (LoRA matrices and the
  classification head), a few MB;
- ``MODEL_CARD.md``: the human-readable card.

The full model and its ONNX files are *built* from it (see :mod:`model.build`) into
``build/`` beside these files, or a user cache folder when the artifact is read-only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model.errors import ArtifactError
from model.labels import check_id2label

FORMAT_VERSION = 1
METADATA_FILE = "artifact.json"
ADAPTER_FILE = "adapter.safetensors"
CARD_FILE = "MODEL_CARD.md"
DEFAULT_ARTIFACT = Path(__file__).parent / "default"


@dataclass(frozen=True)
class LoraConfig:
    """Where and how big the LoRA adapters are."""

    rank: int = 16
    alpha: float = 32.0
    targets: tuple[str, ...] = (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    )


@dataclass
class ArtifactMeta:
    """Everything ``artifact.json`` says about a model version."""

    version: str
    id2label: dict[int, str]
    base_model: dict[str, str]
    max_length: int
    temperature: float
    # Per-label offsets added to logits / temperature, fitted with it on dev (all 0 in
    # artifacts made before they existed).
    bias: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    lora: LoraConfig = field(default_factory=LoraConfig)
    model_id: str = "feedback-classifier"
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        raw = asdict(self)
        raw["id2label"] = {str(k): v for k, v in self.id2label.items()}
        raw["lora"]["targets"] = list(self.lora.targets)
        return json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ArtifactMeta:
        try:
            if raw.get("format") != FORMAT_VERSION:
                raise ArtifactError(
                    f"artifact format {raw.get('format')!r} is not supported "
                    f"(this version reads format {FORMAT_VERSION})"
                )
            lora = raw.get("lora", {})
            bias = raw.get("bias", [0.0, 0.0, 0.0])
            if not isinstance(bias, list) or len(bias) != len(raw["id2label"]):
                raise ValueError(f"bias must hold one offset per label, not {bias!r}")
            return cls(
                version=str(raw["version"]),
                id2label=check_id2label(raw["id2label"]),
                base_model=dict(raw["base_model"]),
                max_length=int(raw["max_length"]),
                temperature=float(raw["temperature"]),
                bias=[float(b) for b in bias],
                lora=LoraConfig(
                    rank=int(lora.get("rank", 16)),
                    alpha=float(lora.get("alpha", 32.0)),
                    targets=tuple(lora.get("targets", LoraConfig().targets)),
                ),
                model_id=str(raw.get("model_id", "feedback-classifier")),
                training=dict(raw.get("training", {})),
                data=dict(raw.get("data", {})),
                metrics=dict(raw.get("metrics", {})),
                created_at=str(raw.get("created_at", "")),
            )
        except KeyError as exc:
            raise ArtifactError(f"{METADATA_FILE} has no {exc.args[0]!r} field") from exc
        except ValueError as exc:
            raise ArtifactError(
                f"{METADATA_FILE} is not a poor/good/outstanding model: {exc}"
            ) from exc


def read_meta(path: str | Path) -> ArtifactMeta:
    """Read and validate ``artifact.json`` from an artifact folder.

    >>> read_meta("model/default").id2label    # doctest: +SKIP
    {0: 'poor', 1: 'good', 2: 'outstanding'}
    """
    folder = Path(path)
    meta_path = folder / METADATA_FILE
    if not folder.is_dir():
        raise ArtifactError(f"model artifact {folder} does not exist or is not a folder")
    if not meta_path.is_file():
        raise ArtifactError(f"{folder} is not a model artifact: it has no {METADATA_FILE}")
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{meta_path} is not valid JSON: {exc}") from exc
    return ArtifactMeta.from_dict(raw)


def write_meta(path: str | Path, meta: ArtifactMeta) -> None:
    Path(path, METADATA_FILE).write_text(meta.to_json(), encoding="utf-8")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
