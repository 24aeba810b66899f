"""Where the bridge computes: device choice, mixed precision and determinism settings.

`resolve_device(name)`  'auto' -> cuda when available, else cpu; 'cuda' without a CUDA
                        device is bad input (ConfigError, before any work).
`autocast(device)`      bf16 autocast on CUDA (weights and optimiser state stay float32,
                        as in mixed-precision training: Micikevicius et al. 2018); full
                        float32 on CPU, where the bridge's numbers are reproducible bit
                        for bit at a fixed thread count.
`configure(device)`     determinism flags for CUDA: deterministic cuDNN and cuBLAS
                        (CUBLAS_WORKSPACE_CONFIG, the setting PyTorch's reproducibility
                        notes name), no TF32, torch.use_deterministic_algorithms (warn
                        only: an op without a deterministic kernel still runs).
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import torch

from simrl.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("bridge.device", name, "needs a CUDA device; none is available here")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def configure(device: torch.device) -> None:
    """Determinism flags for `device` (nothing to set on CPU)."""
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
