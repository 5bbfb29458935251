"""A pixel judge for the toy world, independent of any CLIP: the genre of an image (from its
background) and its motif (from the colour of its foreground).

The image is box-blurred first (so the verdict does not hinge on grain, which an autoencoder
smooths away). A pixel is rap's teal when its hue is within `TEAL_HUE_WIDTH` of the teal's and it
has some colour (a shape of a colour next to teal is not); every other pixel is given the nearest
of a palette made of the motif colours and a ramp of greys (the other genres' backgrounds are
hue-free grey):

* motif: the motif colour that covers the most pixels (at least `MIN_MOTIF_SHARE` of them);
  teal is never a motif;
* genre: a background at least `RAP_TEAL_SHARE` teal is rap (a sampler may draw the teal over part
  of the grey it started from); otherwise the nearest of four centroids, measured on renders of every
  genre x motif combination (fixed seeds, computed once), of a few numbers of the background pixels
  (teal, or nearest a grey and nearly hue-free, so the tinted blobs a sampler leaves do not count as
  background): their median brightness, the brightness of the top and the bottom third, and the teal
  share. Grain is left out: the autoencoder smooths it away, so a sampled metal picture has none.
"""

from __future__ import annotations

import functools

import numpy as np

from ..options import GENRES
from .render import RAP_TINT, render_combo
from .vocab import MOTIF_NAMES, MOTIF_RGB

MIN_MOTIF_SHARE = 0.01
# Teal is rap's alone: a picture whose background is at least this share teal is rap, whatever the
# greys say (renders: rap 0.90-1.00, the other genres 0).
RAP_TEAL_SHARE = 0.25
# A teal pixel: a hue within `TEAL_HUE_WIDTH` degrees of rap's (180: renders' jitter reaches 171-189;
# forest green is 129, ocean blue 208, so a sea-green or steel-blue shape is not teal) and some colour
# (pale or dark teal counts, a grey does not).
TEAL_HUE_WIDTH = 15.0
TEAL_MIN_CHROMA = 0.15
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


def _hue(x: np.ndarray) -> np.ndarray:
    """`[H, W, 3]` in 0..1 -> `[H, W]` hue in degrees (0 where there is no colour)."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    mx, mn = x.max(-1), x.min(-1)
    c = np.where(mx > mn, mx - mn, 1.0)
    hue = np.where(mx == r, ((g - b) / c) % 6, np.where(mx == g, (b - r) / c + 2, (r - g) / c + 4))
    return np.where(mx > mn, hue * 60.0, 0.0)


def _teal(x: np.ndarray) -> np.ndarray:
    """`[H, W]` bool: rap's teal (pixels of a blurred image)."""
    rap_hue = float(_hue(np.array(RAP_TINT, np.float32)[None, None] / 255.0)[0, 0])
    return (np.abs(_hue(x) - rap_hue) <= TEAL_HUE_WIDTH) & (x.max(-1) - x.min(-1) >= TEAL_MIN_CHROMA)


def _classes(x: np.ndarray) -> np.ndarray:
    """`[H, W, 3]` -> `[H, W]` index into the palette (motifs first, then greys); rap's teal is the
    index past the palette (a background, never a motif)."""
    return np.where(_teal(x), len(_PALETTE), ((x[..., None, :] - _PALETTE) ** 2).sum(-1).argmin(-1))


def motif_shares(img) -> dict:
    """Share of the picture covered by each motif's colour."""
    counts = np.bincount(_classes(_blur(_as_float(img))).ravel(), minlength=len(_PALETTE) + 1)
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
    cls = _classes(x)
    tint = cls == len(_PALETTE)
    grey = ((cls >= len(MOTIF_NAMES)) & (chroma < MAX_GREY_CHROMA)) | tint  # [H, W]: background pixels
    if grey.mean() < 0.1:
        grey = np.ones_like(grey)
    h = lum.shape[0] // 3
    top, bottom = lum[:h][grey[:h]], lum[-h:][grey[-h:]]
    return np.array([np.median(lum[grey]), np.median(top) if top.size else np.median(lum[grey]),
                     np.median(bottom) if bottom.size else np.median(lum[grey]), tint[grey].mean()],
                    dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _centroids() -> tuple[np.ndarray, np.ndarray]:
    feats = {g: np.stack([features(render_combo(g, m, 10_000 + 97 * k + s)) for k, m in enumerate(MOTIF_NAMES)
                          for s in range(8)]) for g in GENRES}
    allf = np.concatenate(list(feats.values()))
    scale = allf.std(0) + 1e-3
    return np.stack([feats[g].mean(0) for g in GENRES]) / scale, scale


def judge_genre(img) -> str:
    f = features(img)
    if f[-1] >= RAP_TEAL_SHARE:
        return "rap"
    centroids, scale = _centroids()
    return GENRES[int(np.argmin(((centroids - f / scale) ** 2).sum(1)))]
