"""Image files <-> tensors. Writes are atomic (temp file, then rename)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .safeload import atomic_path

MAX_PIXELS = 64 * 10**6  # 8000 x 8000: far above any VQGAN-CLIP size, far below a decompression bomb


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file -> `[3, H, W]` float32 in 0..1 (RGB)."""
    from PIL import Image, UnidentifiedImageError

    from .memory import format_bytes

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file '{path}' does not exist")
    try:
        with warnings.catch_warnings():  # the size is checked here, in one line of ours
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)  # reads the header only
        with im:
            w, h = im.size
            if w * h > MAX_PIXELS:  # checked before decoding: a small file can declare a huge picture
                raise InputError(f"image '{path}' is {w}x{h}: decoding it needs about {format_bytes(w * h * 16)} of memory; "
                                 f"images up to {MAX_PIXELS // 10**6} megapixels are read, so scale it down first")
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0  # [H, W, 3]
    except Image.DecompressionBombError:
        raise InputError(f"image '{path}' declares a picture far too large to decode safely (a decompression bomb, or a "
                         f"scan of over {Image.MAX_IMAGE_PIXELS * 2 // 10**6} megapixels); scale it down first") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
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
