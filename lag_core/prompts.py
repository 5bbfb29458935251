"""Targets for VQGAN-CLIP: CLIP-space embeddings with signed weights.

A target is anything that lives in CLIP's joint space: a text prompt, an image prompt, or a lyric
attention conditioning. A negative weight pushes the image away from that target.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import InputError

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_WEIGHTLIKE = re.compile(r"^[^\s]{1,12}$")


def parse_prompt(prompt: str) -> tuple[str, float]:
    """`"text:weight"` -> `(text, weight)`; plain text has weight 1.

    The weight is what follows the last colon. A colon followed by a phrase with spaces is part of
    the text ("verse: the night is young"); a colon followed by a single word that is not a
    number ("a cat:heavy") is a malformed weight and an error.
    """
    text, weight = prompt, 1.0
    head, sep, tail = prompt.rpartition(":")
    if sep:
        tail = tail.strip()
        if _NUMBER.match(tail):
            text, weight = head, float(tail)
        elif _WEIGHTLIKE.match(tail):
            raise InputError(
                f"prompt weight must be a number, found '{tail}' in '{prompt}'; write 'text:1.5' "
                "(or put a space after the colon if it belongs to the text)"
            )
    text = text.strip()
    if not text:
        raise InputError(f"prompt '{prompt}' has no text before its weight; write 'text:weight'")
    if not math.isfinite(weight):
        raise InputError(f"prompt weight must be finite, found {weight} in '{prompt}'")
    return text, weight


@dataclass
class Targets:
    """`embeds [P, D]` (L2-normalised) with `weights [P]` (sign = towards / away)."""

    embeds: torch.Tensor
    weights: torch.Tensor
    labels: list[str]

    def __post_init__(self):
        if self.embeds.ndim != 2 or self.weights.ndim != 1 or self.embeds.shape[0] != self.weights.shape[0]:
            raise InputError(
                f"targets need embeds [P, D] and weights [P]; found {tuple(self.embeds.shape)} and {tuple(self.weights.shape)}"
            )
        if not bool(torch.isfinite(self.weights).all()):  # a NaN weight makes every step NaN: a black picture
            raise InputError(f"target weights must be finite numbers, found {self.weights.tolist()[:4]} "
                             f"for {', '.join(self.labels[:2])}")

    def __len__(self) -> int:
        return self.embeds.shape[0]

    @property
    def dim(self) -> int:
        return self.embeds.shape[1]

    @staticmethod
    def from_embeddings(embeds: torch.Tensor, weight: float | torch.Tensor = 1.0, label: str = "embedding") -> Targets:
        """Wrap conditioning embeddings `[P, D]` or `[D]` as targets (normalised here)."""
        embeds = embeds.detach().float().reshape(-1, embeds.shape[-1])  # [P, D]
        weights = torch.as_tensor(weight, dtype=torch.float32).expand(embeds.shape[0]).clone()
        return Targets(F.normalize(embeds, dim=-1), weights.to(embeds.device), [label] * embeds.shape[0])

    @staticmethod
    def cat(parts: list[Targets]) -> Targets:
        parts = [p for p in parts if p is not None and len(p) > 0]
        if not parts:
            raise InputError("no targets: give at least one text prompt, image prompt or conditioning")
        dims = {p.dim for p in parts}
        if len(dims) != 1:
            raise InputError(
                f"targets come from CLIP spaces of different sizes {sorted(dims)}; use one CLIP model for all of them"
            )
        device = parts[0].embeds.device
        return Targets(
            torch.cat([p.embeds.to(device) for p in parts]),
            torch.cat([p.weights.to(device) for p in parts]),
            [label for p in parts for label in p.labels],
        )


def text_targets(clip, prompts: list[str]) -> Targets:
    """Encode `"text:weight"` prompts once (not per step)."""
    if not prompts:
        raise InputError("the prompt list is empty; give at least one --prompt 'text[:weight]'")
    parsed = [parse_prompt(p) for p in prompts]
    embeds = clip.embed_texts([t for t, _ in parsed])  # [P, D]
    weights = torch.tensor([w for _, w in parsed], dtype=torch.float32, device=embeds.device)
    return Targets(embeds, weights, [t for t, _ in parsed])


def image_targets(clip, images: list[torch.Tensor], weights: list[float] | None = None, labels=None) -> Targets:
    """Image prompts: each `[3, H, W]` in 0..1 is resized to CLIP's input size and encoded."""
    if not images:
        raise InputError("image prompt list is empty")
    embeds = torch.cat([clip.embed_images(img[None].to(clip.device)) for img in images])  # [P, D]
    weights = torch.tensor(weights or [1.0] * len(images), dtype=torch.float32, device=embeds.device)
    return Targets(embeds, weights, labels or [f"image{i}" for i in range(len(images))])


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared great-circle distance between all rows: `[N, D] x [P, D] -> [N, P]` (Crowson's loss)."""
    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    chord = (2 - 2 * a @ b.T).clamp(min=1e-12).sqrt()  # [N, P], |a - b| for unit vectors
    return chord.div(2).clamp(max=1.0).arcsin().pow(2).mul(2)


def targets_loss(image_embeds: torch.Tensor, targets: Targets) -> torch.Tensor:
    """Sum over targets of |w| * mean over cutouts of sign(w) * distance."""
    dists = spherical_distance(image_embeds.float(), targets.embeds)  # [cutn, P]
    return (dists.mean(0) * targets.weights).sum()
