"""Audio encoder: LAG MFCC `[B, 128, 431]` -> an embedding in CLIP's joint space `[B, D]`.

Two modes, one interface:

* `conv` (trainable): per-coefficient standardisation, a small temporal conv net (1-D convs over
  time, GELU, stride-2 downsampling), mean+max pooling over time, and a linear projection.
* `stats` (untrained, usable before any training): per-coefficient mean and standard deviation
  over time, standardised with statistics of a reference set the caller gives (the bundled sample in the node),
  through a fixed random orthogonal projection (seeded). It keeps distances between songs
  roughly, so similar sounds map to nearby points, but its directions mean nothing to CLIP
  until an attention layer is trained on top.

Checkpoints are safetensors whose metadata carries the config, so a file rebuilds its model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, WeightsError
from ..options import check_number
from ..safeload import FORMAT_KEY, build_checked, metadata_config, read_weights, write_safetensors
from .mfcc import N_MFCC

CONFIG_KEY = "lag_audio_encoder_config"


@dataclass(frozen=True)
class AudioEncoderConfig:
    embed_dim: int = 512
    mode: str = "conv"  # conv | stats
    n_mfcc: int = N_MFCC
    channels: tuple[int, ...] = (128, 128, 256)
    kernel: int = 5
    dropout: float = 0.1
    seed: int = 0

    def __post_init__(self):
        # Also the check of a weight file's metadata: sizes before anything is allocated.
        if self.mode not in ("conv", "stats"):
            raise InputError(f"unknown audio encoder mode '{self.mode}'; expected conv or stats")
        check_number("audio encoder embed_dim", self.embed_dim, 1, 8192, integer=True)
        check_number("audio encoder n_mfcc", self.n_mfcc, 1, 512, integer=True)
        check_number("audio encoder kernel", self.kernel, 1, 63, integer=True)
        check_number("audio encoder dropout", self.dropout, 0, 1, hi_open=True)
        check_number("audio encoder seed", self.seed, 0, 2**63 - 1, integer=True)
        if not (isinstance(self.channels, tuple) and 0 < len(self.channels) <= 16):
            raise InputError(f"audio encoder needs 1-16 conv layers, found {self.channels!r:.40}")
        for c in self.channels:
            check_number("audio encoder channels", c, 1, 4096, integer=True)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AudioEncoderConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict) -> AudioEncoderConfig:
        data = dict(data)
        data["channels"] = tuple(data.get("channels", cls.channels))
        return cls(**{k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}})


class AudioEncoder(nn.Module):
    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("coef_mean", torch.zeros(cfg.n_mfcc))
        self.register_buffer("coef_std", torch.ones(cfg.n_mfcc))
        if cfg.mode == "conv":
            layers, c_in = [], cfg.n_mfcc
            for i, c in enumerate(cfg.channels):
                layers += [nn.Conv1d(c_in, c, cfg.kernel, stride=1 if i == 0 else 2, padding=cfg.kernel // 2), nn.GELU()]
                c_in = c
            self.net = nn.Sequential(*layers)
            self.drop = nn.Dropout(cfg.dropout)
            self.proj = nn.Linear(2 * c_in, cfg.embed_dim)
        else:
            g = torch.Generator().manual_seed(cfg.seed)
            q, _ = torch.linalg.qr(torch.randn(max(2 * cfg.n_mfcc, cfg.embed_dim), max(2 * cfg.n_mfcc, cfg.embed_dim), generator=g))
            self.register_buffer("stats_mean", torch.zeros(2 * cfg.n_mfcc))
            self.register_buffer("stats_std", torch.ones(2 * cfg.n_mfcc))
            self.register_buffer("projection", q[: 2 * cfg.n_mfcc, : cfg.embed_dim].contiguous())  # [2*128, D]

    def fit_normalization(self, mfcc: torch.Tensor) -> AudioEncoder:
        """Set the standardisation from a reference set `[N, 128, T]` (training data)."""
        with torch.no_grad():
            mfcc = mfcc.float()
            self.coef_mean.copy_(mfcc.mean(dim=(0, 2)))
            self.coef_std.copy_(mfcc.std(dim=(0, 2)).clamp_min(1e-3))
            if self.cfg.mode == "stats":
                stats = self._stats(mfcc)
                self.stats_mean.copy_(stats.mean(0))
                self.stats_std.copy_(stats.std(0).clamp_min(1e-3) if len(stats) > 1 else torch.ones_like(stats[0]))
        return self

    def _stats(self, mfcc: torch.Tensor) -> torch.Tensor:
        x = (mfcc - self.coef_mean[:, None]) / self.coef_std[:, None]  # [B, 128, T]
        return torch.cat([x.mean(-1), x.std(-1)], dim=1)  # [B, 256]

    def forward(self, mfcc: torch.Tensor) -> torch.Tensor:
        """`[B, 128, T]` -> `[B, embed_dim]` (not normalised)."""
        if mfcc.ndim == 2:
            mfcc = mfcc[None]
        if mfcc.ndim != 3 or mfcc.shape[1] != self.cfg.n_mfcc:
            raise InputError(f"audio encoder expects MFCC [B, {self.cfg.n_mfcc}, T], found {tuple(mfcc.shape)}")
        mfcc = mfcc.to(self.coef_mean.dtype)
        if self.cfg.mode == "stats":
            z = (self._stats(mfcc) - self.stats_mean) / self.stats_std  # [B, 256]
            return z @ self.projection  # [B, D]
        x = (mfcc - self.coef_mean[:, None]) / self.coef_std[:, None]  # [B, 128, T]
        h = self.net(x)  # [B, C, T']
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)  # [B, 2C]
        return self.proj(self.drop(pooled))  # [B, D]

    def embed(self, mfcc: torch.Tensor) -> torch.Tensor:
        """L2-normalised embedding, the form lyric attention takes."""
        return F.normalize(self(mfcc).float(), dim=-1)


def stats_encoder(embed_dim: int, reference_mfcc: torch.Tensor, seed: int = 0) -> AudioEncoder:
    """The untrained statistics encoder, standardised on `reference_mfcc` `[N, 128, T]` (the caller's
    reference set, e.g. the bundled sample's MFCCs)."""
    enc = AudioEncoder(AudioEncoderConfig(embed_dim=embed_dim, mode="stats", seed=seed))
    return enc.fit_normalization(reference_mfcc).eval()


def save_audio_encoder(enc: AudioEncoder, path: str | os.PathLike, extra: dict | None = None) -> Path:
    return write_safetensors(path, dict(enc.state_dict()), {FORMAT_KEY: "audio_encoder", CONFIG_KEY: enc.cfg.to_json(), **(extra or {})})


def load_audio_encoder(path: str | os.PathLike, device="cpu") -> AudioEncoder:
    state, meta = read_weights(path)
    if CONFIG_KEY not in meta:
        raise WeightsError(f"'{path}' is not an audio encoder file (no {CONFIG_KEY} in its metadata); train one with `lag train`")
    cfg = metadata_config(meta, CONFIG_KEY, AudioEncoderConfig.from_dict, path, "an audio encoder config")
    return build_checked(lambda: AudioEncoder(cfg), state, path, "audio encoder").to(device).eval()
