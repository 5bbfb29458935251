"""LyricAttention: a conditioning vector in CLIP's joint space from attention over lyric tokens.

The query comes from the genre (CLIP text embedding of a genre prompt), the sound (the audio
encoder's embedding), and/or a previous conditioning (so layers stack). Keys and values are the
CLIP features of the lyrics: its per-token features, or each word on its own
(`AttentionConfig.keys`, `options.ATTENTION_KEYS`). Two kinds share one interface:

* `mha`: multi-head scaled dot-product attention (Vaswani et al., 2017) through
  `torch.nn.functional.scaled_dot_product_attention`, one query per entry.
* `bahdanau`: additive attention (Bahdanau et al., 2015): score = v^T tanh(W_q q + W_k k).

Output: `normalize(q + W_o context)`. `W_o` starts at zero and the genre path at identity, so an
untrained layer returns the genre prompt's embedding, a sane point in CLIP space to start from.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..options import (
    ATTENTION_KEYS,
    ATTENTION_KINDS,
    GENRE_TEMPLATE,
    GENRES,
    check_choice,
    check_number,
    check_template,
    keys_from_end_token,
)


@dataclass(frozen=True)
class AttentionConfig:
    kind: str = "mha"
    dim: int = 512  # CLIP joint-space dimension
    heads: int = 8  # mha
    hidden: int = 256  # bahdanau score width
    dropout: float = 0.0
    use_audio: bool = True
    genres: tuple[str, ...] = GENRES
    genre_template: str = GENRE_TEMPLATE
    genre_prompts: dict = field(default_factory=dict)  # per-genre overrides of the template
    clip_model_id: str = ""
    keys: str = "tokens"  # what it attends over, one of options.ATTENTION_KEYS (files from before it existed: tokens)

    def __post_init__(self):
        # Also the check of a weight file's metadata: sizes any CLIP uses, a template that cannot expand.
        check_choice("attention kind", self.kind, ATTENTION_KINDS)
        check_choice("attention keys", self.keys, ATTENTION_KEYS)
        check_number("attention dim", self.dim, 1, 8192, integer=True)
        check_number("attention heads", self.heads, 1, 256, integer=True)
        check_number("attention hidden width", self.hidden, 1, 16384, integer=True)
        check_number("attention dropout", self.dropout, 0, 1, hi_open=True)
        check_template(self.genre_template)
        if not (isinstance(self.genre_prompts, dict) and len(self.genre_prompts) <= 64
                and all(isinstance(k, str) and isinstance(v, str) and len(v) <= 1000 for k, v in self.genre_prompts.items())):
            raise InputError("attention genre prompts must map genre names to prompts of at most 1000 characters")
        if not (0 < len(self.genres) <= 64 and all(isinstance(g, str) and 0 < len(g) <= 64 for g in self.genres)):
            raise InputError(f"attention genres must be 1-64 short names, found {len(self.genres)} items")
        if self.kind == "mha" and self.dim % self.heads:
            raise InputError(f"attention dim {self.dim} is not divisible by heads {self.heads}")

    def prompt(self, genre: str) -> str:
        return self.genre_prompts.get(genre) or self.genre_template.format(genre=genre)

    def prompts(self) -> list[str]:
        return [self.prompt(g) for g in self.genres]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AttentionConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict) -> AttentionConfig:
        data = keys_from_end_token(data)  # files of `lag train [--no-end-token]`
        data["genres"] = tuple(data.get("genres", GENRES))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class LyricAttention(nn.Module):
    def __init__(self, cfg: AttentionConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.q_genre = nn.Linear(d, d)
        self.q_audio = nn.Linear(d, d)
        with torch.no_grad():
            self.q_genre.weight.copy_(torch.eye(d))
            self.q_genre.bias.zero_()
        if cfg.kind == "mha":
            # No key bias: softmax ignores a per-query constant, so it would get only rounding noise
            # as gradient (which Adam amplifies into random steps).
            self.w_q, self.w_k, self.w_v = nn.Linear(d, d), nn.Linear(d, d, bias=False), nn.Linear(d, d)
        else:
            self.w_q = nn.Linear(d, cfg.hidden, bias=False)
            self.w_k = nn.Linear(d, cfg.hidden)
            self.score = nn.Linear(cfg.hidden, 1, bias=False)
            self.w_v = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(d, d)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def query(self, genre=None, audio=None, previous=None, genre_present=None) -> torch.Tensor:
        """Sum of the available parts, each `[B, D]`; `genre_present [B]` drops the genre per entry."""
        parts = []
        if previous is not None:
            parts.append(previous)
        if genre is not None:
            g = self.q_genre(genre)
            if genre_present is not None:
                g = g * genre_present[:, None].to(g.dtype)
            parts.append(g)
        if audio is not None:
            if not self.cfg.use_audio:
                raise InputError("these attention weights were trained without audio; leave the audio input empty")
            parts.append(self.q_audio(audio))
        if not parts:
            raise InputError("lyric attention needs a genre, an audio embedding or a previous conditioning as its query")
        return torch.stack(parts).sum(0)  # [B, D]

    def attend(self, q: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`q [B, D]`, `keys [B, L, D]`, `mask [B, L]` (True = token) -> context `[B, D]`, weights `[B, L]`."""
        if not mask.any(dim=1).all():
            raise InputError("every entry needs at least one lyric token")
        b, n, d = keys.shape
        if self.cfg.kind == "mha":
            h = self.cfg.heads
            qh = self.w_q(q).view(b, h, 1, d // h)  # [B, H, 1, dh]
            kh = self.w_k(keys).view(b, n, h, d // h).transpose(1, 2)  # [B, H, L, dh]
            vh = self.w_v(keys).view(b, n, h, d // h).transpose(1, 2)  # [B, H, L, dh]
            allowed = mask[:, None, None, :]  # [B, 1, 1, L]
            ctx = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=allowed)  # [B, H, 1, dh]
            ctx = ctx.reshape(b, d)  # [B, D]
            scores = (qh @ kh.transpose(-1, -2)) / (d // h) ** 0.5  # [B, H, 1, L]
            weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1).mean(1)[:, 0]  # [B, L]
        else:
            e = self.score(torch.tanh(self.w_q(q)[:, None] + self.w_k(keys)))[..., 0]  # [B, L]
            weights = e.masked_fill(~mask, float("-inf")).softmax(-1)  # [B, L]
            ctx = (weights[..., None] * self.w_v(keys)).sum(1)  # [B, D]
        return ctx, weights

    def forward(self, keys, mask, genre=None, audio=None, previous=None, genre_present=None):
        """-> conditioning `[B, D]` (unit vectors) and attention weights per token `[B, L]`."""
        q = self.query(genre, audio, previous, genre_present)
        ctx, weights = self.attend(q, keys, mask)
        cond = F.normalize(q + self.out(self.drop(ctx)), dim=-1)
        return cond, weights
