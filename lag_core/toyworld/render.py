"""Procedural 64x64 scenes and their captions, deterministic from a seed (numpy + PIL).

Two independent axes, so that every genre x motif combination renders and can be judged:

* The **genre** sets the background (a grey level, or rap's teal), its texture and the kind of shapes:
  metal: dark grey, heavy grain, lightning zigzags; pop: light grey, clean, circles;
  rnb: a mid-grey vertical gradient, smooth, waves; rap: teal, clean, squares.
* The **motif** (a content word of the lyrics, `vocab.MOTIFS`) sets the colour of every shape in
  the foreground: fire orange, ocean sky blue, sun yellow, forest green, snow white, blood red, night
  purple, candy pink. The other backgrounds are hue-free grey, and rap's teal is a hue no motif has
  (halfway between forest green and ocean blue): a colour is what VQGAN-CLIP reaches from any start,
  where rap's earlier near black was drawn as metal's dark grey (docs/fidelity.md).

Plain scenes (a random grey background or rap's teal, random shape kinds, one motif colour) separate
the two: captions of lyric lines are true of every background, and come with each genre's as often; a
genre phrase is false of a plain scene whose background cannot be the genre's (`could_be`: shapes of
any colour on a grey are no rap).
Captions are lyric-like sentences holding one motif word (`vocab.random_line`) or genre phrases; the
caption text alone says what it claims (`caption_key`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..options import GENRES
from .vocab import ALL_FORMS, GENRE_PHRASES, MOTIF_NAMES, MOTIF_RGB, motif_of_line, pick, random_line

SIZE = 64
SHAPES = ("circle", "square", "triangle", "lightning", "wave")
GENRE_SHAPES = {"metal": "lightning", "pop": "circle", "rnb": "wave", "rap": "square"}
GENRE_CAPTION_SHARE = 0.6  # of a genre scene's captions: a genre phrase (else a line with its motif word)
RAP_TINT = (0, 135, 135)  # rap's background: the one with a hue
# The other genres' backgrounds: the (low, high) grey levels of the top and the bottom row (rnb: a gradient).
GREY_LEVELS = {"metal": ((45, 65), (45, 65)), "pop": ((178, 195), (178, 195)), "rnb": ((135, 150), (80, 95))}
# A plain scene whose background is further than this from a genre's levels (or not teal, for rap) is
# known not to be that genre: the CLIP's loss calls the genre's phrases false of it (`could_be`).
LEVEL_MARGIN = 20
# Of plain scenes, the share drawn on rap's teal (the rest on any grey): a lyric line's words then come
# with every genre's background as often (a quarter each), so that its words pull the picture towards no
# genre. With plain scenes all grey (the sixth round) 87% of lyric captions came with a grey background,
# and rap's teal was the genre look an attention's lyric share held back (docs/fidelity.md).
PLAIN_TEAL_SHARE = 0.25
PHRASE_TO_GENRE = {p: g for g, phrases in GENRE_PHRASES.items() for p in phrases}


@dataclass
class Shape:
    kind: str
    rgb: tuple
    cx: float
    cy: float
    size: float


@dataclass
class Scene:
    bg_top: tuple
    bg_bottom: tuple
    grain: float
    motif: str
    shapes: list[Shape] = field(default_factory=list)
    genre: str | None = None  # None: a plain scene


def _shape_mask(kind: str, cx: float, cy: float, size: float, rng) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    dx, dy = xx - cx, yy - cy
    r = size / 2
    if kind == "circle":
        return dx**2 + dy**2 <= r**2
    if kind == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    if kind == "triangle":
        return (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    if kind == "lightning":
        # A zigzag band from top to bottom of the shape's box.
        t = (dy + r) / (2 * r)
        zig = np.abs(((t * 3) % 1.0) - 0.5) * 2 - 0.5  # triangle wave in [-0.5, 0.5]
        return (np.abs(dx - zig * r * 0.9) <= max(2.5, r * 0.36)) & (np.abs(dy) <= r)
    if kind == "wave":
        phase = rng.uniform(0, 2 * math.pi)
        return (np.abs(dy - np.sin(dx / max(r, 1) * 2.2 + phase) * r * 0.35) <= max(2.5, r * 0.28)) & (np.abs(dx) <= r * 1.4)
    raise ValueError(kind)


def draw(scene: Scene, rng) -> np.ndarray:
    """Scene -> uint8 `[64, 64, 3]`."""
    t = np.linspace(0, 1, SIZE, dtype=np.float32)[:, None, None]
    img = (1 - t) * np.array(scene.bg_top, np.float32) + t * np.array(scene.bg_bottom, np.float32)
    img = np.broadcast_to(img, (SIZE, SIZE, 3)).copy()
    for s in scene.shapes:
        img[_shape_mask(s.kind, s.cx, s.cy, s.size, rng)] = s.rgb
    if scene.grain > 0:
        img += rng.normal(0, scene.grain, img.shape[:2] + (1,)).astype(np.float32)  # grey grain: no hue
    return np.clip(img, 0, 255).astype(np.uint8)


def _motif_rgb(motif: str, rng) -> tuple:
    return tuple(float(np.clip(c + rng.uniform(-12, 12), 0, 255)) for c in MOTIF_RGB[motif])


def _shapes(kinds, motif: str, rng) -> list[Shape]:
    return [Shape(pick(kinds, rng), _motif_rgb(motif, rng), rng.uniform(14, 50), rng.uniform(14, 50), rng.uniform(22, 36))
            for _ in range(int(rng.integers(1, 4)))]


def _grey(v: float) -> tuple:
    return (v, v, v)


def _rap_teal(rng) -> tuple:
    return tuple(float(np.clip(c + rng.uniform(-10, 10), 0, 255)) for c in RAP_TINT)


def genre_scene(genre: str, motif: str, rng) -> Scene:
    if genre in ("metal", "pop"):
        bg = _grey(rng.uniform(*GREY_LEVELS[genre][0]))
        scene = Scene(bg, bg, float(rng.uniform(14, 20)) if genre == "metal" else 0.0, motif, genre=genre)
    elif genre == "rnb":
        top, bottom = GREY_LEVELS[genre]
        scene = Scene(_grey(rng.uniform(*top)), _grey(rng.uniform(*bottom)), 0.0, motif, genre=genre)
    elif genre == "rap":
        bg = _rap_teal(rng)
        scene = Scene(bg, bg, 0.0, motif, genre=genre)
    else:
        raise ValueError(f"unknown genre {genre}")
    scene.shapes = _shapes((GENRE_SHAPES[genre],), motif, rng)
    return scene


def could_be(scene: Scene, genre: str, margin: float = LEVEL_MARGIN) -> bool:
    """Whether `scene`'s background could be `genre`'s: rap's teal for rap, else a grey whose top and
    bottom levels lie within `margin` of the genre's (`GREY_LEVELS`)."""
    if genre != "rap" and genre not in GREY_LEVELS:
        raise ValueError(f"unknown genre {genre}")
    teal = len({float(c) for c in scene.bg_top}) > 1  # a scene's background is a grey (`_grey`) or rap's teal
    if genre == "rap" or teal:
        return genre == "rap" and teal
    return all(lo - margin <= bg[0] <= hi + margin for bg, (lo, hi) in zip((scene.bg_top, scene.bg_bottom), GREY_LEVELS[genre]))


def plain_scene(motif: str, rng) -> Scene:
    """A scene of no genre: any shapes on rap's teal (a quarter of them, as rap is a quarter of the
    genres) or on any grey, sometimes a gradient, never grain."""
    if rng.random() < PLAIN_TEAL_SHARE:
        top = bottom = _rap_teal(rng)
    else:
        top = _grey(rng.uniform(0, 210))
        bottom = _grey(float(np.clip(top[0] + rng.uniform(-60, 60), 0, 210))) if rng.random() < 0.3 else top
    scene = Scene(top, bottom, 0.0, motif)
    scene.shapes = _shapes(SHAPES, motif, rng)
    return scene


def caption(scene: Scene, rng) -> str:
    """A lyric-like line with one of the motif's word forms, or (genre scenes) a genre phrase."""
    if scene.genre is not None and rng.random() < GENRE_CAPTION_SHARE:
        return pick(GENRE_PHRASES[scene.genre], rng)
    return random_line(pick(ALL_FORMS[scene.motif], rng), rng)


def caption_key(text: str) -> tuple[str | None, str | None]:
    """What a caption claims: (motif or None, genre or None)."""
    return motif_of_line(text), PHRASE_TO_GENRE.get(text)


def render(seed: int, genre_share: float = 0.75) -> tuple[np.ndarray, str, Scene]:
    """One scene from a seed: image uint8 `[64, 64, 3]`, a caption, and the scene."""
    rng = np.random.default_rng(seed)
    motif = pick(MOTIF_NAMES, rng)
    scene = genre_scene(pick(GENRES, rng), motif, rng) if rng.random() < genre_share else plain_scene(motif, rng)
    return draw(scene, rng), caption(scene, rng), scene


def render_combo(genre: str, motif: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return draw(genre_scene(genre, motif, rng), rng)


def render_genre(genre: str, seed: int) -> np.ndarray:
    """A genre scene with a motif drawn from the seed."""
    rng = np.random.default_rng(seed)
    return draw(genre_scene(genre, pick(MOTIF_NAMES, rng), rng), rng)


def write_references(out, per_genre: int = 16, seed: int = 2_000_000) -> list:
    """`out/<genre>/<k>.png` for every genre style (motifs in turn): reference images for attention
    training (`lag train --image-dir`). Built in a temporary folder that replaces `out` whole on success."""
    from pathlib import Path

    from PIL import Image

    from ..data.dataset import atomic_dir
    from ..errors import InputError

    if per_genre < 1:
        raise InputError(f"--per-genre must be at least 1, found {per_genre}")
    def ours(folder: Path) -> bool:  # genre folders of NNN.png files and nothing else: what this function writes
        return all(d.name in GENRES and d.is_dir() and not d.is_symlink()
                   and all(p.is_file() and not p.is_symlink() and p.suffix == ".png" and p.stem.isdigit() for p in d.iterdir())
                   for d in folder.iterdir())

    with atomic_dir(Path(out), force=True, ours=ours, what="a reference folder made by `lag toyworld references`") as tmp:
        for g, genre in enumerate(GENRES):
            (tmp / genre).mkdir()
            for k in range(per_genre):
                motif = MOTIF_NAMES[k % len(MOTIF_NAMES)]
                Image.fromarray(render_combo(genre, motif, seed + g * 100_000 + k)).save(tmp / genre / f"{k:03d}.png")
    return sorted(Path(out).glob("*/*.png"))
