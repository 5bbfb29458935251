"""Embedded defaults: models that need no downloaded weights.

* `toyworld` (the default): a small CLIP and an FSQ autoencoder trained on the toy world's
  procedural scenes (`lag toyworld train-clip / train-vqgan`), shipped in `weights/toyworld/` as
  fp16 safetensors, plus lyric attention trained on the bundled LAG sample with that CLIP
  (`weights/attention/toyworld_lyric_attention_{mha,bahdanau}.safetensors`). In this
  world colours, brightness and the four genre styles mean something, and the pixel judge can
  check the pictures.
* `tiny`: a tiny VQGAN (taming layout, factor 8) and a tiny open_clip CLIP, randomly initialised
  from a fixed seed. They run everything in seconds; their pictures mean nothing. For unit tests.
"""

from __future__ import annotations

import torch

from .clip_models import ClipModel, load_clip
from .errors import InputError, WeightsError
from .paths import WEIGHTS_DIR
from .vqgan import TINY, VQGAN, load_vqgan

PRESETS = ("toyworld", "tiny")
DEFAULT_PRESET = "toyworld"
TOYWORLD_DIR = WEIGHTS_DIR / "toyworld"


def tiny_vqgan(seed: int = 0, device="cpu") -> VQGAN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VQGAN(TINY)
        # A codebook spread like a trained one, so random codes decode to varied colours.
        torch.nn.init.uniform_(model.quantize.embedding.weight, -1.0, 1.0)
    return model.to(device).eval().requires_grad_(False)


def _toy_file(name: str):
    path = TOYWORLD_DIR / name
    if not path.is_file():
        raise WeightsError(f"the toyworld preset needs {path}, which is missing; restore weights/toyworld/ from the "
                           "repository or rebuild it with `make toyworld`")
    return path


def _check(name: str) -> None:
    if name not in PRESETS:
        raise InputError(f"unknown preset '{name}'; expected one of {', '.join(PRESETS)}")


def load_preset_vqgan(name: str, device="cpu") -> VQGAN:
    _check(name)
    if name == "tiny":
        return tiny_vqgan(device=device)
    return load_vqgan(_toy_file("vqgan.safetensors"), device=device)


def load_preset_clip(name: str, device="cpu") -> ClipModel:
    _check(name)
    if name == "tiny":
        return load_clip("tiny", device=device)
    return load_clip(str(_toy_file("clip.safetensors")), device=device)


def preset_attention(name: str, kind: str = "mha"):
    """The lyric attention weights trained for a preset's CLIP."""
    _check(name)
    path = WEIGHTS_DIR / "attention" / f"{name}_lyric_attention_{kind}.safetensors"
    if not path.is_file():
        raise WeightsError(f"the {name} preset's attention weights {path} are missing; restore weights/attention/ from the "
                           f"repository or retrain them with `lag train --preset {name} --attention {kind} --out {path}`")
    return path


def load_preset(name: str, device="cpu") -> tuple[VQGAN, ClipModel]:
    return load_preset_vqgan(name, device), load_preset_clip(name, device)
