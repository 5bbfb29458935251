"""Random cutouts with augmentations, made in one batched `grid_sample` call.

VQGAN-CLIP (Crowson, 2021) scores many random crops of the image with CLIP. The usual code cuts
each crop in a Python loop, pools it to CLIP's size, then runs a chain of augmentations. Here every
geometric step (crop window, flip, rotation, scale and shift jitter) is one 2x3 affine matrix per
cutout, the cutouts are sampled by one `grid_sample` per mipmap level over a tall stacked grid,
and colour jitter and noise are elementwise tensor ops. Sampling each crop from the mipmap level
where it shrinks by less than 2x keeps large crops from aliasing with no supersampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .options import AugmentConfig


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) * (hi - lo) + lo


def cutout_affines(
    batch: int, height: int, width: int, cutn: int, cut_size: int, cut_pow: float, aug: AugmentConfig, gen, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Affine matrices `[batch * cutn, 2, 3]` from output coords in [-1, 1] to input coords, and
    each crop's side in input pixels `[batch * cutn]`."""
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
    return theta, size


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
    b, c, h, w = image.shape
    device = image.device
    theta, size = cutout_affines(b, h, w, cutn, cut_size, cut_pow, aug, generator, device)  # [B*n, 2, 3], [B*n]
    theta = theta.to(image.dtype)
    # Antialiasing by mipmapping: a pyramid of 2x area-downsampled images, and each crop is
    # sampled from the level at which it shrinks by less than 2x, where bilinear taps still
    # cover every pixel. Affines act on normalised coordinates, so one matrix fits every level.
    # The sampling work is cutn * cut_size^2 points whatever the crop sizes.
    top = max(0, int(math.log2(max(1, min(h, w) // cut_size))))
    pyramid = [image]
    for _ in range(top):
        pyramid.append(F.avg_pool2d(pyramid[-1], 2, ceil_mode=True))  # [B, C, H/2^k, W/2^k]
    level = torch.log2(size / cut_size).floor().clamp(0, top).long().view(b, cutn)  # [B, n]
    base = _base_grid(cut_size, device, image.dtype)  # [S*S, 3]
    grid = torch.einsum("pk,njk->npj", base, theta).view(b, cutn, cut_size, cut_size, 2)  # [B, n, S, S, 2]
    out = image.new_empty(b, cutn, c, cut_size, cut_size)
    for i in range(b):
        for k in level[i].unique().tolist():
            idx = (level[i] == k).nonzero().squeeze(1)  # the crops of image i at level k
            g = grid[i, idx].reshape(1, -1, cut_size, 2)  # [1, m*S, S, 2]: crops stacked vertically
            part = _grid_sample(pyramid[k][i : i + 1], g)
            out[i, idx] = part.view(c, len(idx), cut_size, cut_size).transpose(0, 1)  # [m, C, S, S]
    out = out.view(b * cutn, c, cut_size, cut_size)
    if aug.enabled:
        out = _colour(out, aug, generator)
    return out


def _grid_sample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear `grid_sample`. Its CUDA backward accumulates with atomics (no deterministic
    version), so under `torch.use_deterministic_algorithms` a CUDA image is sampled on the CPU."""
    if image.is_cuda and torch.are_deterministic_algorithms_enabled():
        with torch.autocast("cpu", enabled=False):
            out = F.grid_sample(image.float().cpu(), grid.float().cpu(), mode="bilinear", padding_mode="border",
                                align_corners=False)
        return out.to(image.device, image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


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
