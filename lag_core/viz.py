"""Pictures where people would rather look than read: training curves and attention heatmaps.

Drawn with Pillow only (no plotting library): returns images as `[1, H, W, 3]` float tensors
(ComfyUI's IMAGE layout) and can save them as PNG.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .safeload import atomic_path

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def font(size: int = 12):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def to_tensor(img) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)[None]  # [1, H, W, 3]


def save_picture(img, path) -> None:
    """Write a PIL image as PNG, atomically."""
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def _panel(draw, box, series: dict[str, list[float]], title: str, fnt, ylim=None):
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=(180, 180, 180))
    draw.text((x0 + 6, y0 - 18), title, fill=(20, 20, 20), font=fnt)
    values = [v for vs in series.values() for v in vs if v is not None and np.isfinite(v)]
    if not values:
        return
    lo, hi = ylim if ylim else (min(values), max(values))
    if hi - lo < 1e-9:
        hi = lo + 1.0
    n = max(len(vs) for vs in series.values())
    for frac in (0.0, 0.5, 1.0):
        y = y1 - frac * (y1 - y0)
        draw.line([(x0, y), (x0 + 4, y)], fill=(120, 120, 120))
        draw.text((x0 - 44, y - 6), f"{lo + frac * (hi - lo):.3g}", fill=(90, 90, 90), font=fnt)
    draw.text((x1 - 60, y1 + 4), f"epoch {n}", fill=(90, 90, 90), font=fnt)
    for k, (name, vs) in enumerate(series.items()):
        color = COLORS[k % len(COLORS)]
        pts = [(x0 + (i / max(1, n - 1)) * (x1 - x0), y1 - (v - lo) / (hi - lo) * (y1 - y0))
               for i, v in enumerate(vs) if v is not None]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        elif pts:
            draw.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=color)
        draw.text((x0 + 8, y0 + 6 + 14 * k), name, fill=color, font=fnt)


def plot_training_curves(history: list[dict], path: str | os.PathLike | None = None, title: str = "") -> torch.Tensor:
    """Loss (train/val) and genre accuracy per epoch, side by side, under an optional title (one line
    per line of `title`, e.g. where the weights were saved)."""
    from PIL import Image, ImageDraw

    lines = [line for line in title.splitlines() if line.strip()]
    top = 20 * len(lines) + (10 if lines else 0)  # rows for the title above the panels
    img = Image.new("RGB", (760, 300 + top), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    fnt = font(12)
    for i, line in enumerate(lines):
        draw.text((12, 10 + 20 * i), line, fill=(20, 20, 20), font=font(14 if i == 0 else 12))
    col = lambda key: [h.get(key) for h in history]  # noqa: E731
    _panel(draw, (60, 30 + top, 360, 260 + top), {"train loss": col("train_loss"), "val loss": col("val_loss")}, "loss", fnt)
    acc = {"val genre acc": col("val_acc")}
    if any(h.get("val_acc_audio_only") is not None for h in history):
        acc["val acc, audio only"] = col("val_acc_audio_only")
    if any(h.get("val_acc_genre_over_audio") is not None for h in history):
        acc["val acc, genre given, other audio"] = col("val_acc_genre_over_audio")
    _panel(draw, (440, 30 + top, 740, 260 + top), acc, "genre top-1 accuracy", fnt, ylim=(0.0, 1.0))
    if path is not None:
        save_picture(img, path)
    return to_tensor(img)


def _heat(w: float) -> tuple[int, int, int]:
    """White -> orange -> dark red."""
    w = float(np.clip(w, 0, 1))
    if w < 0.5:
        t = w / 0.5
        return (255, int(255 - 90 * t), int(255 - 200 * t))
    t = (w - 0.5) / 0.5
    return (int(255 - 100 * t), int(165 - 145 * t), int(55 - 35 * t))


def attention_heatmap(labels: list[str], weights, title: str = "", path: str | os.PathLike | None = None,
                      width: int = 720) -> torch.Tensor:
    """Lyric tokens as cells coloured by attention weight (scaled to the largest), wrapped in lines."""
    from PIL import Image, ImageDraw

    weights = torch.as_tensor(weights).float().flatten()[: len(labels)]
    scaled = (weights / weights.max().clamp_min(1e-9)).tolist()
    fnt = font(14)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    cells, x, y, line_h, pad = [], 12, 40, 30, 6
    for label, w, raw in zip(labels, scaled, weights.tolist()):
        tw = int(probe.textlength(label, font=fnt)) + 2 * pad
        if x + tw > width - 12:
            x, y = 12, y + line_h + 18
        cells.append((x, y, tw, label, w, raw))
        x += tw + 4
    height = y + line_h + 30
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((12, 10), title or "lyric attention", fill=(20, 20, 20), font=fnt)
    for x, y, tw, label, w, raw in cells:
        draw.rectangle([x, y, x + tw, y + line_h], fill=_heat(w), outline=(200, 200, 200))
        draw.text((x + pad, y + 7), label, fill=(0, 0, 0) if w < 0.7 else (255, 255, 255), font=fnt)
        draw.text((x + pad, y + line_h + 2), f"{raw:.2f}", fill=(110, 110, 110), font=font(10))
    if path is not None:
        save_picture(img, path)
    return to_tensor(img)


def mfcc_picture(mfcc: torch.Tensor) -> torch.Tensor:
    """MFCC `[128, T]` as a picture (coefficient 0 at the bottom, per-coefficient contrast), `[1, 256, T, 3]`."""
    m = mfcc.float()
    m = (m - m.mean(1, keepdim=True)) / m.std(1, keepdim=True).clamp_min(1e-6)  # [128, T]
    v = (m.clamp(-2.5, 2.5) + 2.5) / 5.0  # [128, T] in 0..1
    v = v.flip(0).repeat_interleave(2, dim=0)  # [256, T]
    rgb = torch.stack([v, v.pow(2.0) * 0.8, (1 - v) * 0.6 + 0.2 * v], dim=-1)  # [256, T, 3]
    return rgb[None].clamp(0, 1)
