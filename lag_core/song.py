"""One song -> CLIP targets, through trained lyric attention. Every caller goes through here:
`lag generate`, `lag attention-map`, the Lyric Attention node, the fidelity benchmark, and any
new caller (a video renderer calls it once per segment).

A song is its lyrics, its genre (or none: the sound must carry it), its sound (an MFCC or a ready
audio embedding) and optionally a previous conditioning, which joins the query so layers stack.
Keys and values are CLIP's features of the lyrics, per word or per token as the weights were
trained (`AttentionConfig.keys`; none is cut); the query sums the parts the song has.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attention.checkpoint import LoadedAttention
from .attention.tokens import encode_lyrics, pad_tokens
from .errors import InputError
from .prompts import Targets

LABEL_CHARS = 40  # how much of the lyrics a target's label keeps


@dataclass
class Song:
    lyrics: str
    genre: str | None = None  # None or "": no genre in the query
    mfcc: torch.Tensor | None = None  # [128, T] (or [1, 128, T]), encoded by the weights' audio encoder
    audio_embed: torch.Tensor | None = None  # [1, D]: a ready audio embedding, used when there is no mfcc
    previous: torch.Tensor | Targets | None = None  # a conditioning [1, D] (or Targets: its first row)


@dataclass
class SongTargets:
    targets: Targets  # one target [1, D] with the song's weight
    tokens: list[str]  # [L] the lyric's words (or tokens), for heatmaps
    weights: torch.Tensor  # [L] attention over them (mean over heads), on the CPU
    genre: str | None  # the genre that was in the query (normalised), or None
    kind: str  # mha or bahdanau


def song_label(lyrics: str) -> str:
    return "song:" + " ".join(lyrics.split())[:LABEL_CHARS]


def song_from_entry(dataset, index: int) -> Song:
    """An entry of a LAG dataset as a song: its lyric line, genre and MFCC."""
    e = dataset.entries[index]
    return Song(e.lyrics, e.genre, dataset.mfcc[index])


def _normalise_genre(genre: str | None, known) -> str | None:
    genre = (genre or "").strip().lower() or None
    if genre is not None and genre not in known:
        raise InputError(f"unknown genre '{genre}'; these weights know {', '.join(known)}")
    return genre


@torch.no_grad()
def song_targets(song: Song, loaded: LoadedAttention, clip, weight: float = 1.0) -> SongTargets:
    """The song's conditioning as a sampler target, with the attention over its lyric tokens.

    An MFCC wins over a ready audio embedding, and is ignored when the weights hold no audio
    encoder (they were trained without audio).
    """
    cfg = loaded.cfg
    device = next(loaded.attention.parameters()).device
    if not song.lyrics or not song.lyrics.strip():
        raise InputError("a song needs lyrics: give at least one word (or an entry of a dataset)")
    genre = _normalise_genre(song.genre, cfg.genres)
    genre_q = clip.embed_texts([cfg.prompt(genre)]).to(device) if genre else None  # [1, D]
    audio_embed = song.audio_embed
    if song.mfcc is not None:  # the MFCC wins over a ready embedding; without an audio encoder, no sound
        mfcc = song.mfcc.to(device).float()
        audio_embed = None if loaded.audio_encoder is None else \
            loaded.audio_encoder.embed(mfcc.reshape(-1, mfcc.shape[-2], mfcc.shape[-1])[:1])  # [1, D]
    previous = song.previous.embeds[:1] if isinstance(song.previous, Targets) else song.previous
    tokens = encode_lyrics(clip, [song.lyrics], cfg.keys, pooled=False)
    keys, mask = pad_tokens(tokens)  # [1, L, D], [1, L]
    cond, weights = loaded.attention(keys.to(device), mask.to(device), genre=genre_q,
                                     audio=None if audio_embed is None else audio_embed.to(device).reshape(1, -1),
                                     previous=None if previous is None else previous.to(device).reshape(1, -1))
    labels = tokens[0].labels
    targets = Targets.from_embeddings(cond.cpu(), weight, label=song_label(song.lyrics))
    return SongTargets(targets, labels, weights[0, : len(labels)].cpu(), genre, cfg.kind)
