"""PyTorch backend on the merged full model: the reference the ONNX backends are tested against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from model import build
from model.network import FeedbackNet


class TorchBackend:
    name = "torch"

    def __init__(self, build_dir: Path, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self._net = FeedbackNet.from_config(build_dir / build.TORCH_CONFIG)
        self._net.load_state_dict(load_file(str(build_dir / build.TORCH_WEIGHTS)))
        self._net.eval()

    @torch.inference_mode()
    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        out = self._net(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        return out.float().numpy()
