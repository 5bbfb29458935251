"""Random cutouts with augmentations, made in one batched `grid_sample` call.

VQGAN-CLIP (Crowson, 2021) scores many random crops of the image with CLIP. The usual code cuts
each crop in a Python loop, pools it to CLIP's size, then runs a chain of augmentations. Here every
geometric step (crop window, flip, rotation, scale and shift jitter) is one 2x3 affine matrix per
cutout, all cutouts are sampled by a single `grid_sample` over a tall stacked grid, and colour
jitter and noise are elementwise tensor ops. Supersampling then average pooling keeps large crops
from aliasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentations applied to every cutout (set `enabled=False` for plain crops)."""

    enabled: bool = True
    flip: float = 0.5  # probability of a horizontal flip
    degrees: float = 15.0  # rotation range, +-
    translate: float = 0.1  # shift range as a fraction of the crop size, +-
    scale: float = 0.1  # zoom range, +-
    jitter: float = 0.1  # brightness / contrast / saturation range, +-
    noise: float = 0.1  # std of Gaussian noise is drawn from U(0, noise) per cutout


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) * (hi - lo) + lo


def cutout_affines(
    batch: int, height: int, width: int, cutn: int, cut_size: int, cut_pow: float, aug: AugmentConfig, gen, device
) -> torch.Tensor:
    """Affine matrices `[batch * cutn, 2, 3]` from output coords in [-1, 1] to input coords."""
    n = batch * cutn
    max_size = min(height, width)
    min_size = min(height, width, cut_size)
    size = torch.rand(n, generator=gen, device=device).pow(cut_pow) * (max_size - min_size) + min_size  # [n] px
    off_x = torch.rand(n, generator=gen, device=device) * (width - size)  # [n] px
    off_y = torch.rand(n, generator=gen, device=device) * (height - size)  # [n] px
    cx = (off_x + size / 2) / width * 2 - 1
    cy = (off_y + size / 2) / height * 2 - 1
    sx, sy = size / width, size / height  # half-extent of the crop in normalised coords
    ones = torch.ones(n, device=device)
    if aug.enabled:
        angle = _uniform(n, -aug.degrees, aug.degrees, gen, device) * (math.pi / 180)
        zoom = _uniform(n, 1 - aug.scale, 1 + aug.scale, gen, device)
        flip = torch.where(torch.rand(n, generator=gen, device=device) < aug.flip, -ones, ones)
        cx = cx + _uniform(n, -aug.translate, aug.translate, gen, device) * 2 * sx
        cy = cy + _uniform(n, -aug.translate, aug.translate, gen, device) * 2 * sy
    else:
        angle, zoom, flip = torch.zeros(n, device=device), ones, ones
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # input = diag(sx, sy) @ R(angle) / zoom @ diag(flip, 1) @ output + centre
    theta = torch.stack(
        [
            torch.stack([sx * cos * flip, -sx * sin, cx], dim=1),
            torch.stack([sy * sin * flip, sy * cos, cy], dim=1),
        ],
        dim=1,
    )  # [n, 2, 3]
    return theta


def _base_grid(size: int, device, dtype) -> torch.Tensor:
    """Pixel-centre coordinates (align_corners=False) as homogeneous rows `[size*size, 3]`."""
    lin = (torch.arange(size, device=device, dtype=dtype) * 2 + 1) / size - 1
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten(), torch.ones_like(xx.flatten())], dim=1)


def make_cutouts(
    image: torch.Tensor,
    cut_size: int,
    cutn: int,
    cut_pow: float = 1.0,
    aug: AugmentConfig = AugmentConfig(),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`[B, C, H, W]` in 0..1 -> `[B * cutn, C, cut_size, cut_size]` augmented cutouts."""
    # Antialiasing, cheaply: area-downsample the whole image once so that the largest crop is at
    # most ~4x the output side, then supersample 2x and average-pool.
    pool = max(1, min(image.shape[-2:]) // (4 * cut_size))
    if pool > 1:
        image = F.avg_pool2d(image, pool, ceil_mode=True)  # [B, C, H/p, W/p]
    b, c, h, w = image.shape
    device = image.device
    theta = cutout_affines(b, h, w, cutn, cut_size, cut_pow, aug, generator, device).to(image.dtype)  # [B*n, 2, 3]
    ss = 2 if min(h, w) >= 2 * cut_size else 1
    side = cut_size * ss
    base = _base_grid(side, device, image.dtype)  # [side*side, 3]
    grid = torch.einsum("pk,njk->npj", base, theta)  # [B*n, side*side, 2]
    grid = grid.reshape(b, cutn * side, side, 2)  # [B, n*side, side, 2]: cutouts stacked vertically
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)  # [B, C, n*side, side]
    out = out.reshape(b, c, cutn, side, side).transpose(1, 2).reshape(b * cutn, c, side, side)  # [B*n, C, side, side]
    if ss > 1:
        out = F.avg_pool2d(out, ss)  # [B*n, C, cut, cut]
    if aug.enabled:
        out = _colour(out, aug, generator)
    return out


def _colour(x: torch.Tensor, aug: AugmentConfig, gen) -> torch.Tensor:
    n, device = x.shape[0], x.device
    if aug.jitter > 0:
        bright = _uniform(n, -aug.jitter, aug.jitter, gen, device).view(n, 1, 1, 1)
        contrast = _uniform(n, 1 - aug.jitter, 1 + aug.jitter, gen, device).view(n, 1, 1, 1)
        sat = _uniform(n, 1 - aug.jitter, 1 + aug.jitter, gen, device).view(n, 1, 1, 1)
        grey = x.mean(1, keepdim=True)  # [n, 1, S, S]
        x = grey + (x - grey) * sat
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * contrast + mean + bright
    if aug.noise > 0:
        std = _uniform(n, 0, aug.noise, gen, device).view(n, 1, 1, 1)
        x = x + std * torch.randn(x.shape, generator=gen, device=device, dtype=x.dtype)
    return x
