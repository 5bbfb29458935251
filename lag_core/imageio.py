"""Image files <-> tensors. Writes are atomic (temp file, then rename)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .safeload import atomic_path


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file -> `[3, H, W]` float32 in 0..1 (RGB)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file '{path}' does not exist")
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0  # [H, W, 3]
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"'{path}' is not an image PIL can read ({type(exc).__name__}); give a PNG, JPEG or WebP file") from None
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()  # [3, H, W]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """`[H, W, 3]` or `[1, H, W, 3]` in 0..1 -> uint8 array."""
    if image.ndim == 4:
        image = image[0]
    return (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def save_png(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Save `[H, W, 3]` / `[1, H, W, 3]` in 0..1 as PNG, atomically."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format="PNG")
    return path
