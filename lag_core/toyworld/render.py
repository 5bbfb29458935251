"""Procedural 64x64 scenes and their captions, deterministic from a seed (numpy + PIL).

A scene is a background (dark or bright, a hue, optionally a vertical gradient and grain) with one
to three shapes (circle, square, triangle, lightning zigzag, wave) in ten colours. Four genre
styles are fixed looks that a simple pixel judge can tell apart:

* metal: dark grey or dark red background, red or black lightning, heavy grain.
* pop: hot pink background (a colour no plain scene has), yellow, white or cyan circles, clean.
* rnb: purple-to-blue mid-dark vertical gradient, purple or blue waves, smooth.
* rap: near-black background, gold blocks, clean (dark, unlike pop; gold, unlike metal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..options import GENRES

SIZE = 64
COLORS = {
    "red": (220, 30, 30), "orange": (245, 140, 20), "yellow": (245, 225, 40), "green": (40, 180, 60),
    "cyan": (40, 200, 220), "blue": (40, 70, 220), "purple": (140, 50, 200), "pink": (245, 120, 190),
    "white": (245, 245, 245), "black": (15, 15, 15),
}
GOLD = (212, 175, 55)
SHAPES = ("circle", "square", "triangle", "lightning", "wave")
GENRE_PHRASES = {
    "metal": ["metal style", "metal music album art", "a heavy metal cover"],
    "pop": ["pop style", "pop music album art", "a pop art cover"],
    "rnb": ["rnb style", "rnb music album art", "a smooth rnb cover"],
    "rap": ["rap style", "rap music album art", "a rap cover"],
}


@dataclass
class Shape:
    kind: str
    color: str
    rgb: tuple
    cx: float
    cy: float
    size: float


@dataclass
class Scene:
    bright: bool
    bg_top: tuple
    bg_bottom: tuple
    grain: float
    shapes: list[Shape] = field(default_factory=list)
    genre: str | None = None
    bg_name: str = ""


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
        return (np.abs(dx - zig * r * 0.9) <= max(1.5, r * 0.22)) & (np.abs(dy) <= r)
    if kind == "wave":
        phase = rng.uniform(0, 2 * math.pi)
        return (np.abs(dy - np.sin(dx / max(r, 1) * 2.2 + phase) * r * 0.35) <= max(1.5, r * 0.18)) & (np.abs(dx) <= r * 1.4)
    raise ValueError(kind)


def draw(scene: Scene, rng) -> np.ndarray:
    """Scene -> uint8 `[64, 64, 3]`."""
    t = np.linspace(0, 1, SIZE, dtype=np.float32)[:, None, None]
    img = (1 - t) * np.array(scene.bg_top, np.float32) + t * np.array(scene.bg_bottom, np.float32)
    img = np.broadcast_to(img, (SIZE, SIZE, 3)).copy()
    for s in scene.shapes:
        img[_shape_mask(s.kind, s.cx, s.cy, s.size, rng)] = s.rgb
    if scene.grain > 0:
        img += rng.normal(0, scene.grain, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _random_shape(rng, kinds=SHAPES, colors=tuple(COLORS)) -> Shape:
    kind = kinds[rng.integers(len(kinds))]
    color = colors[rng.integers(len(colors))]
    rgb = GOLD if color == "gold" else COLORS[color]
    return Shape(kind, color, rgb, rng.uniform(14, 50), rng.uniform(14, 50), rng.uniform(14, 30))


def random_scene(rng) -> Scene:
    """A plain (non-genre) scene."""
    bright = bool(rng.random() < 0.5)
    hue = np.array(COLORS[list(COLORS)[rng.integers(8)]], np.float32)
    if bright:
        base = 255 - (255 - hue) * rng.uniform(0.15, 0.35)
        bg_name = "bright"
    else:
        base = hue * rng.uniform(0.12, 0.3)
        bg_name = "dark"
    bottom = base * rng.uniform(0.75, 1.0) if rng.random() < 0.3 else base
    scene = Scene(bright, tuple(base), tuple(bottom), float(rng.choice([0.0, 0.0, 6.0])), bg_name=bg_name)
    avoid = "white" if bright else "black"
    colors = tuple(c for c in COLORS if c != avoid)
    scene.shapes = [_random_shape(rng, colors=colors) for _ in range(rng.integers(1, 4))]
    return scene


def genre_scene(genre: str, rng) -> Scene:
    n = int(rng.integers(1, 4))
    if genre == "metal":
        top = (rng.uniform(35, 60),) * 3 if rng.random() < 0.5 else (rng.uniform(60, 90), rng.uniform(5, 15), rng.uniform(5, 15))
        scene = Scene(False, top, tuple(np.array(top) * 0.8), float(rng.uniform(28, 40)), genre=genre, bg_name="dark")
        scene.shapes = [_random_shape(rng, ("lightning",), ("red", "black")) for _ in range(n)]
    elif genre == "pop":
        pink = (255, rng.uniform(80, 120), rng.uniform(165, 200))
        scene = Scene(True, pink, pink, 0.0, genre=genre, bg_name="bright")
        scene.shapes = [_random_shape(rng, ("circle",), ("yellow", "white", "cyan")) for _ in range(n)]
    elif genre == "rnb":
        top = (rng.uniform(70, 100), rng.uniform(30, 50), rng.uniform(120, 150))
        bottom = (rng.uniform(20, 40), rng.uniform(30, 50), rng.uniform(90, 120))
        scene = Scene(False, top, bottom, 0.0, genre=genre, bg_name="dark")
        scene.shapes = [_random_shape(rng, ("wave",), ("purple", "blue")) for _ in range(n)]
    elif genre == "rap":
        v = rng.uniform(5, 18)
        scene = Scene(False, (v, v, v), (v, v, v), 0.0, genre=genre, bg_name="dark")
        scene.shapes = [_random_shape(rng, ("square",), ("gold",)) for _ in range(n)]
    else:
        raise ValueError(f"unknown genre {genre}")
    return scene


def caption(scene: Scene, rng) -> str:
    """A full description, a short form, or (for genre scenes) a genre phrase."""
    bg = f"a {scene.bg_name} background"
    s = scene.shapes[int(rng.integers(len(scene.shapes)))]
    kind = {"lightning": "lightning bolt"}.get(s.kind, s.kind)
    options = [f"a {s.color} {kind} on {bg}", f"a {s.color} {kind}", f"something {s.color}", bg]
    if scene.genre:
        options += GENRE_PHRASES[scene.genre] * 2
    return options[int(rng.integers(len(options)))]


def render(seed: int, genre_share: float = 0.5) -> tuple[np.ndarray, str, Scene]:
    """One scene from a seed: image uint8 `[64, 64, 3]`, a caption, and the scene."""
    rng = np.random.default_rng(seed)
    if rng.random() < genre_share:
        scene = genre_scene(GENRES[int(rng.integers(4))], rng)
    else:
        scene = random_scene(rng)
    return draw(scene, rng), caption(scene, rng), scene


def render_genre(genre: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return draw(genre_scene(genre, rng), rng)


def write_references(out, per_genre: int = 16, seed: int = 2_000_000) -> list:
    """`out/<genre>/<k>.png` for every genre style: reference images for attention training
    (`lag train --image-dir`). Built in a temporary folder that replaces `out` whole on success."""
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
                Image.fromarray(render_genre(genre, seed + g * 100_000 + k)).save(tmp / genre / f"{k:03d}.png")
    return sorted(Path(out).glob("*/*.png"))
