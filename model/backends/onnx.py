"""ONNX Runtime backend (CPU)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model.errors import ArtifactError


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, e.g. in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class OnnxBackend:
    def __init__(
        self, path: Path, threads: int | None = None, name: str = "onnx", spin: bool = False
    ) -> None:
        self.name = name
        # A self-hosted service sends nothing home: ONNX Runtime's usage telemetry stays off.
        ort.disable_telemetry_events()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        if not spin:
            # Otherwise ONNX Runtime's worker threads busy-wait for the next parallel
            # section, taking the cores from the service's event loop, from a rescore's
            # tokeniser thread and from every other process: on 2 cores shared with other
            # work, spinning cost 2-3x in requests answered and about 2x in rescore speed.
            # On cores of its own, spinning can be up to 10% faster.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime raises its own, unexported error types
            raise ArtifactError(
                f"ONNX Runtime cannot load {path} ({type(exc).__name__}): the file is damaged "
                f"or incomplete. Delete {path.parent} and load the model again to rebuild it."
            ) from exc

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        (out,) = self._session.run(
            ["logits"], {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        return np.asarray(out, dtype=np.float32)
