"""Device and precision, chosen once at the edge (CLI flag or ComfyUI node) and passed in.

Precision is one option mapped here, in one place, to an autocast context.
"""

from __future__ import annotations

import contextlib

import torch

from .errors import InputError
from .options import PRECISIONS, check_choice


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """`auto` -> cuda when available, else mps, else cpu. Explicit names are checked."""
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device '{name}' was asked for but CUDA is not available here; use --device cpu or auto")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device '{name}'; expected auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda", "mps") or (device.type == "cpu" and device.index not in (None, 0)):
        raise InputError(f"unknown device '{name}'; expected auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device '{name}' does not exist: this machine has {torch.cuda.device_count()} CUDA device(s); "
                         "use cuda:0 .. cuda:N-1 or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"device '{name}' was asked for but MPS is not available here; use --device cpu or auto")
    return device


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """Map a precision option to the autocast dtype (float32 means no autocast)."""
    check_choice("precision", precision, PRECISIONS)
    if device.type != "cuda":
        # CPU autocast is slower than fp32 for these convolutions; keep results exact.
        return torch.float32
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, dtype: torch.dtype):
    """Autocast context for `dtype` on `device`, or a no-op for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
