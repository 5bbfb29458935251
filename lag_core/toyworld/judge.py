"""A pixel judge for the toy world, independent of any CLIP: the genre of an image (from its
background) and its motif (from the colour of its foreground).

The image is box-blurred first (so the verdict does not hinge on grain, which an autoencoder
smooths away). Every pixel is given the nearest of a palette made of the motif colours and a ramp
of greys (the renderer's backgrounds are hue-free grey):

* motif: the motif colour that covers the most pixels (at least `MIN_MOTIF_SHARE` of them);
* genre: the nearest of four centroids, measured on renders of every genre x motif combination
  (fixed seeds, computed once), of a few numbers of the grey pixels (nearest a grey and nearly
  hue-free, so the tinted blobs a sampler leaves do not count as background): their median brightness,
  the brightness of the top and the bottom third, and the share of near-black pixels. Grain is
  left out: the autoencoder smooths it away, so a sampled metal picture has none.
"""

from __future__ import annotations

import functools

import numpy as np

from ..options import GENRES
from .render import render_combo
from .vocab import MOTIF_NAMES, MOTIF_RGB

MIN_MOTIF_SHARE = 0.01
MAX_GREY_CHROMA = 0.12  # a background pixel is nearly hue-free (off-palette tints are not background)
_GREYS = np.linspace(0, 200, 12)[:, None].repeat(3, 1) / 255.0  # [12, 3]: background ramp (white is the snow motif)
_PALETTE = np.concatenate([np.array([MOTIF_RGB[m] for m in MOTIF_NAMES], np.float32) / 255.0, _GREYS])  # [8 + 12, 3]


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


def _classes(x: np.ndarray) -> np.ndarray:
    """`[H, W, 3]` -> `[H, W]` index into the palette (motifs first, then greys)."""
    return ((x[..., None, :] - _PALETTE) ** 2).sum(-1).argmin(-1)


def motif_shares(img) -> dict:
    """Share of the picture covered by each motif's colour."""
    counts = np.bincount(_classes(_blur(_as_float(img))).ravel(), minlength=len(_PALETTE))
    total = counts.sum()
    return {m: counts[k] / total for k, m in enumerate(MOTIF_NAMES)}


def judge_motif(img) -> str | None:
    """The motif whose colour covers most of the picture, or None when no motif colour is there."""
    shares = motif_shares(img)
    best = max(shares, key=shares.get)
    return best if shares[best] >= MIN_MOTIF_SHARE else None


def features(img) -> np.ndarray:
    x = _blur(_as_float(img))
    lum = x.mean(-1)
    chroma = x.max(-1) - x.min(-1)
    grey = (_classes(x) >= len(MOTIF_NAMES)) & (chroma < MAX_GREY_CHROMA)  # [H, W]: background pixels
    if grey.mean() < 0.1:
        grey = np.ones_like(grey)
    h = lum.shape[0] // 3
    top, bottom = lum[:h][grey[:h]], lum[-h:][grey[-h:]]
    return np.array([np.median(lum[grey]), np.median(top) if top.size else np.median(lum[grey]),
                     np.median(bottom) if bottom.size else np.median(lum[grey]), (lum[grey] < 0.1).mean()],
                    dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _centroids() -> tuple[np.ndarray, np.ndarray]:
    feats = {g: np.stack([features(render_combo(g, m, 10_000 + 97 * k + s)) for k, m in enumerate(MOTIF_NAMES)
                          for s in range(8)]) for g in GENRES}
    allf = np.concatenate(list(feats.values()))
    scale = allf.std(0) + 1e-3
    return np.stack([feats[g].mean(0) for g in GENRES]) / scale, scale


def judge_genre(img) -> str:
    centroids, scale = _centroids()
    f = features(img) / scale
    return GENRES[int(np.argmin(((centroids - f) ** 2).sum(1)))]
