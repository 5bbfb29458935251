"""Batches of toy-world renders as tensors."""

from __future__ import annotations

import numpy as np
import torch

from .render import render


def batch(seeds, genre_share: float = 0.75, with_scenes: bool = False) -> tuple:
    """Renders for `seeds` -> images `[B, 3, 64, 64]` in 0..1 and their captions (and scenes)."""
    imgs, caps, scenes = [], [], []
    for s in seeds:
        img, cap, scene = render(int(s), genre_share)
        imgs.append(img)
        caps.append(cap)
        scenes.append(scene)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(255)  # [B, 3, 64, 64]
    return (x, caps, scenes) if with_scenes else (x, caps)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in 0..1."""
    mse = (a.float() - b.float()).pow(2).mean().clamp_min(1e-10)
    return float(10 * torch.log10(1.0 / mse))
