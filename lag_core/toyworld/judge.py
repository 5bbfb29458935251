"""A pixel judge for the toy world, independent of any CLIP: the genre of an image and its
dominant colour, from colour statistics derived from the renderer's own definitions.

The image is box-blurred first (so the verdict does not hinge on grain, which an autoencoder
smooths away), then described by a few numbers: brightness, mean colour, saturation, and the
shares of gold, red, blue/purple and bright pixels. The genre is the nearest of four centroids
measured on renders of each genre style (fixed seeds, computed once).
"""

from __future__ import annotations

import functools

import numpy as np

from ..options import GENRES
from .render import COLORS, GOLD, render_genre

PALETTE = {**COLORS, "gold": GOLD}


def _as_float(img) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 4:
        arr = arr[0]
    if arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    return arr / 255.0 if arr.max() > 1.5 else arr  # [H, W, 3] in 0..1


def _blur(x: np.ndarray) -> np.ndarray:
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return sum(p[i : i + x.shape[0], j : j + x.shape[1]] for i in range(3) for j in range(3)) / 9.0


def features(img) -> np.ndarray:
    x = _blur(_as_float(img))
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    mx, mn = x.max(-1), x.min(-1)
    sat = (mx - mn) / np.maximum(mx, 1e-3)
    gold = (r > 0.55) & (g > 0.42) & (b < 0.4) & (r - b > 0.3)
    red = (r > 0.35) & (r > 2.0 * g) & (r > 2.0 * b)
    blue_purple = (b > 0.25) & (b > g + 0.08) & (b > 0.7 * r)
    bright = lum > 0.7
    return np.array([lum.mean(), r.mean(), g.mean(), b.mean(), sat.mean(), gold.mean(), red.mean(),
                     blue_purple.mean(), bright.mean()], dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _centroids() -> tuple[np.ndarray, np.ndarray]:
    feats = {g: np.stack([features(render_genre(g, 10_000 + s)) for s in range(64)]) for g in GENRES}
    allf = np.concatenate(list(feats.values()))
    scale = allf.std(0) + 1e-3
    return np.stack([feats[g].mean(0) for g in GENRES]) / scale, scale


def judge_genre(img) -> str:
    centroids, scale = _centroids()
    f = features(img) / scale
    return GENRES[int(np.argmin(((centroids - f) ** 2).sum(1)))]


def dominant_color(img) -> str:
    """The palette colour covering most of the foreground (pixels unlike the border's colour)."""
    x = _as_float(img)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    bg = np.median(border, axis=0)
    fg = x[np.abs(x - bg).sum(-1) > 0.35]
    if len(fg) < 8:
        fg = x.reshape(-1, 3)
    pal = np.array(list(PALETTE.values()), np.float32) / 255.0
    nearest = np.argmin(((fg[:, None, :] - pal[None]) ** 2).sum(-1), axis=1)
    return list(PALETTE)[int(np.bincount(nearest, minlength=len(pal)).argmax())]
