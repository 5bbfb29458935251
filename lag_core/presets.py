"""Embedded defaults: models that need no downloaded weights.

`tiny`: a tiny VQGAN (taming layout, factor 8) and a tiny open_clip CLIP, both randomly
initialised from a fixed seed. They run the whole pipeline in seconds on a CPU; their pictures
mean nothing. They exist for tests and for checking an install.
"""

from __future__ import annotations

import torch

from .clip_models import ClipModel, load_clip
from .errors import InputError
from .vqgan import TINY, VQGAN

PRESETS = ("tiny",)


def tiny_vqgan(seed: int = 0, device="cpu") -> VQGAN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VQGAN(TINY)
        # A codebook spread like a trained one, so random codes decode to varied colours.
        torch.nn.init.uniform_(model.quantize.embedding.weight, -1.0, 1.0)
    return model.to(device).eval().requires_grad_(False)


def load_preset_vqgan(name: str, device="cpu") -> VQGAN:
    if name == "tiny":
        return tiny_vqgan(device=device)
    raise InputError(f"unknown preset '{name}'; expected one of {', '.join(PRESETS)}")


def load_preset_clip(name: str, device="cpu") -> ClipModel:
    if name not in PRESETS:
        raise InputError(f"unknown preset '{name}'; expected one of {', '.join(PRESETS)}")
    return load_clip(name, device=device)


def load_preset(name: str, device="cpu") -> tuple[VQGAN, ClipModel]:
    return load_preset_vqgan(name, device), load_preset_clip(name, device)
