"""Inference backends behind one interface: token ids in, logits out.

- ``onnx``: ONNX Runtime on the int8 model (default; no torch needed);
- ``onnx-fp32``: ONNX Runtime on the fp32 model;
- ``torch``: the merged PyTorch network (the reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

BACKENDS = ("onnx", "onnx-fp32", "torch")


class Backend(Protocol):
    name: str

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Float32 ``[batch, 3]`` logits for int64 ``[batch, seq]`` inputs."""
        ...


def required_files(backend: str) -> tuple[str, ...]:
    from model import build

    files = {
        "onnx": (build.ONNX_INT8,),
        "onnx-fp32": (build.ONNX_FP32,),
        "torch": (build.TORCH_CONFIG, build.TORCH_WEIGHTS),
    }[backend]
    return (*files, build.TOKENIZER_FILE)


def open_backend(
    backend: str, build_dir: Path, threads: int | None = None, spin: bool = False
) -> Backend:
    """Open a backend on a built model folder; ONNX threads sleep when idle unless ``spin``."""
    from model import build

    if backend == "onnx":
        from model.backends.onnx import OnnxBackend

        return OnnxBackend(build_dir / build.ONNX_INT8, threads, name="onnx", spin=spin)
    if backend == "onnx-fp32":
        from model.backends.onnx import OnnxBackend

        return OnnxBackend(build_dir / build.ONNX_FP32, threads, name="onnx-fp32", spin=spin)
    if backend == "torch":
        from model.backends.torch import TorchBackend

        return TorchBackend(build_dir, threads)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
