"""Camera motion between frames, as classic VQGAN-CLIP videos do it: the previous frame's image is
zoomed, rotated and shifted (one affine warp, reflected at the borders), then encoded back into
the latent the next frame starts from."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def affine_warp(image: torch.Tensor, zoom: float, degrees: float, dx: float, dy: float) -> torch.Tensor:
    """`[B, 3, H, W]` -> the same, `zoom` times closer (1 = as is), rotated `degrees` counter-clockwise,
    moved `dx` widths right and `dy` heights down."""
    a = math.radians(degrees)
    cos, sin = math.cos(a) / zoom, math.sin(a) / zoom
    # The grid maps output to input coordinates in [-1, 1]: the inverse of the motion.
    theta = torch.tensor([[cos, -sin, -2 * dx], [sin, cos, -2 * dy]], dtype=image.dtype, device=image.device)
    grid = F.affine_grid(theta[None].expand(image.shape[0], 2, 3), list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


@torch.no_grad()
def move_latent(vqgan, z: torch.Tensor, zoom: float, degrees: float, dx: float, dy: float) -> torch.Tensor:
    """A latent `[1, D, h, w]` -> the latent of its image after the motion (decode, warp, encode)."""
    if zoom == 1 and degrees == 0 and dx == 0 and dy == 0:
        return z
    image = vqgan.decode(vqgan.quantize(z)).float().clamp(-1, 1)  # [1, 3, H, W]
    return vqgan.encode(affine_warp(image, zoom, degrees, dx, dy)).float()
