"""Use trained lyric attention: load a checkpoint and turn a song into a conditioning."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch

from ..audio.encoder import CONFIG_KEY as AUDIO_KEY
from ..audio.encoder import AudioEncoder, AudioEncoderConfig
from ..errors import InputError, WeightsError
from ..safeload import read_weights
from .model import AttentionConfig, LyricAttention
from .tokens import encode_lyric_tokens, pad_tokens


@dataclass
class LoadedAttention:
    attention: LyricAttention
    audio_encoder: AudioEncoder | None
    history: list[dict]
    path: str

    @property
    def cfg(self) -> AttentionConfig:
        return self.attention.cfg


@dataclass
class SongConditioning:
    embeds: torch.Tensor  # [1, D] unit vector in CLIP space
    weights: torch.Tensor  # [L] attention over the lyric tokens
    labels: list[str]  # [L] token strings
    genre: str | None


def load_attention(path: str | os.PathLike, clip=None, device="cpu") -> LoadedAttention:
    """Load a checkpoint from `lag train`; with `clip`, check it was trained for that CLIP."""
    state, meta = read_weights(path)
    if meta.get("lag_format") != "lyric_attention":
        raise WeightsError(f"'{path}' is not a lyric attention file (lag_format={meta.get('lag_format')!r}); train one with `lag train`")
    cfg = AttentionConfig.from_json(meta["attention_config"])
    if clip is not None:
        if clip.embed_dim != cfg.dim:
            raise WeightsError(
                f"attention '{path}' was trained for a {cfg.dim}-dim CLIP ({cfg.clip_model_id}) but the loaded CLIP "
                f"'{clip.model_id}' embeds to {clip.embed_dim}; load the CLIP it was trained with or retrain"
            )
        if cfg.clip_model_id and clip.model_id != cfg.clip_model_id:
            raise WeightsError(
                f"attention '{path}' was trained with CLIP '{cfg.clip_model_id}', not '{clip.model_id}'; "
                "load that CLIP or retrain the attention with `lag train --clip ...`"
            )
    att = LyricAttention(cfg)
    try:
        att.load_state_dict({k[len("attention."):]: v.float() for k, v in state.items() if k.startswith("attention.")})
        audio = None
        if AUDIO_KEY in meta:
            audio = AudioEncoder(AudioEncoderConfig.from_json(meta[AUDIO_KEY]))
            audio.load_state_dict({k[len("audio_encoder."):]: v.float() for k, v in state.items() if k.startswith("audio_encoder.")})
    except RuntimeError as exc:
        raise WeightsError(f"attention file '{path}' does not match its own config ({str(exc).splitlines()[0]}); retrain it") from None
    history = json.loads(meta.get("metrics", "[]"))
    return LoadedAttention(att.to(device).eval(), audio.to(device).eval() if audio else None, history, str(path))


@torch.no_grad()
def condition_song(
    loaded: LoadedAttention,
    clip,
    lyrics: str,
    genre: str | None = None,
    mfcc: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
    audio_embed: torch.Tensor | None = None,
) -> SongConditioning:
    """One song -> conditioning. Give any of: a genre name, its MFCC `[128, T]` (or an audio
    embedding), a previous conditioning `[1, D]` (to stack layers)."""
    cfg = loaded.cfg
    device = next(loaded.attention.parameters()).device
    genre_q = None
    if genre:
        genre = genre.strip().lower()
        if genre not in cfg.genres:
            raise InputError(f"unknown genre '{genre}'; these weights know {', '.join(cfg.genres)}")
        genre_q = clip.encode_text([cfg.prompt(genre)]).to(device)  # [1, D]
    if mfcc is not None and audio_embed is None:
        if loaded.audio_encoder is None:
            raise InputError("these attention weights were trained without audio; leave the audio input empty")
        audio_embed = loaded.audio_encoder.embed(mfcc.to(device).float().reshape(1, mfcc.shape[-2], mfcc.shape[-1]))
    tokens = encode_lyric_tokens(clip, [lyrics])
    keys, mask = pad_tokens(tokens)
    cond, weights = loaded.attention(keys.to(device), mask.to(device), genre=genre_q,
                                     audio=None if audio_embed is None else audio_embed.to(device).reshape(1, -1),
                                     previous=None if previous is None else previous.to(device).reshape(1, -1))
    return SongConditioning(cond, weights[0, : len(tokens[0].labels)].cpu(), tokens[0].labels, genre)
