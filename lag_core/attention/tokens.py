"""CLIP token-level features of lyrics, with lyrics longer than CLIP's context split into chunks.

The text transformer's per-token outputs (after its final LayerNorm) are projected into the joint
space with the same `text_projection` CLIP uses for its pooled embedding. Keys are the content
tokens and the end-of-text token of every chunk; start tokens and padding are masked out. A lyric
longer than the context (77 tokens for OpenAI CLIP) is split at line breaks and sentence ends,
then between words, and every chunk is attended over: nothing is silently cut.

With `keys="words"` (`options.ATTENTION_KEYS`) the keys are instead the words of the lyrics, each
embedded on its own by CLIP (its pooled embedding of that one word): CLIP's text tower is causal,
so in context every token after a word carries that word's meaning too, and the end token carries
the whole line; a word on its own carries only itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError

END_LABEL = "[end]"
WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")  # letters and digits, with inner apostrophes (can't, we're)


@dataclass
class LyricTokens:
    features: torch.Tensor  # [L, D], unit vectors
    labels: list[str]  # one per token, for heatmaps
    pooled: torch.Tensor  # [D], CLIP's pooled embedding of the lyric (mean over chunks), unit vector


def _bpe(clip, text: str) -> list[int]:
    return list(clip.tokenizer.encode(text))


def split_lyrics(clip, lyrics: str) -> list[list[int]]:
    """Token id chunks (without start/end tokens) that each fit CLIP's context."""
    room = clip.context_length - 2
    pieces = [p.strip() for p in re.split(r"[\n\r]+|(?<=[.!?;])\s+", lyrics) if p.strip()]
    if not pieces:
        raise InputError("lyrics are empty; give at least one word")
    chunks: list[list[int]] = [[]]
    for piece in pieces:
        ids = _bpe(clip, piece)
        if len(ids) > room:  # a very long line: split between words
            words, line = piece.split(), []
            for word in words:
                wid = _bpe(clip, word)[:room]
                if len(line) + len(wid) > room:
                    chunks.append(line)
                    line = []
                line += wid
            ids = line
        if len(chunks[-1]) + len(ids) > room:
            chunks.append([])
        chunks[-1] += ids
    return [c for c in chunks if c]


def _token_label(clip, token_id: int) -> str:
    decoder = getattr(clip.tokenizer, "decoder", None)
    if decoder is None:
        return str(token_id)
    return decoder.get(token_id, "?").replace("</w>", "")


def _text_tower_tokens(model, text: torch.Tensor) -> torch.Tensor:
    """Per-token outputs of open_clip's CLIP text tower, projected: `[N, ctx]` ids -> `[N, ctx, D]`."""
    for name in ("token_embedding", "positional_embedding", "transformer", "ln_final"):
        if not hasattr(model, name):
            raise InputError(
                f"this CLIP model ({type(model).__name__}) has no '{name}': lyric attention needs an open_clip CLIP "
                "with the standard text transformer (OpenAI-style ViT or RN models)"
            )
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(text).to(cast) + model.positional_embedding.to(cast)  # [N, ctx, W]
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))  # [N, ctx, W]
    proj = model.text_projection
    if proj is None:
        return x
    return proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj  # [N, ctx, D]


@torch.no_grad()
def encode_lyric_tokens(clip, lyrics: list[str], batch: int = 256) -> list[LyricTokens]:
    """Token features for each lyric (one forward pass over all chunks, in batches)."""
    sot = clip.tokenizer.sot_token_id if hasattr(clip.tokenizer, "sot_token_id") else clip.tokenizer.encoder["<start_of_text>"]
    eot = clip.tokenizer.eot_token_id if hasattr(clip.tokenizer, "eot_token_id") else clip.tokenizer.encoder["<end_of_text>"]
    owners, rows = [], []
    for i, text in enumerate(lyrics):
        for chunk in split_lyrics(clip, text):
            owners.append(i)
            rows.append([sot, *chunk, eot])
    ctx = clip.context_length
    ids = torch.zeros(len(rows), ctx, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row)
    ids = ids.to(clip.device)
    feats = torch.cat([_text_tower_tokens(clip.model, part).float() for part in ids.split(batch)])  # [R, ctx, D]
    feats = F.normalize(feats, dim=-1)
    out_feats: list[list[torch.Tensor]] = [[] for _ in lyrics]
    out_labels: list[list[str]] = [[] for _ in lyrics]
    pooled: list[list[torch.Tensor]] = [[] for _ in lyrics]
    for r, (owner, row) in enumerate(zip(owners, rows)):
        n = len(row)
        out_feats[owner].append(feats[r, 1:n])  # content tokens + end token, [n-1, D]
        out_labels[owner] += [_token_label(clip, t) for t in row[1:-1]] + [END_LABEL]
        pooled[owner].append(feats[r, n - 1])  # CLIP pools at the end-of-text token
    return [
        LyricTokens(torch.cat(f), labels, F.normalize(torch.stack(p).mean(0), dim=-1))
        for f, labels, p in zip(out_feats, out_labels, pooled)
    ]


def pad_tokens(items: list[LyricTokens], length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length token features: `[B, L, D]` plus a mask `[B, L]` (True = real token)."""
    length = length or max(t.features.shape[0] for t in items)
    dim = items[0].features.shape[1]
    feats = torch.zeros(len(items), length, dim, device=items[0].features.device)
    mask = torch.zeros(len(items), length, dtype=torch.bool, device=feats.device)
    for i, t in enumerate(items):
        n = t.features.shape[0]
        feats[i, :n] = t.features
        mask[i, :n] = True
    return feats, mask


def lyric_words(lyrics: str) -> list[str]:
    """The words of a lyric, lower case, in order (punctuation dropped)."""
    words = WORD.findall(lyrics.lower())
    if not words:
        raise InputError("lyrics hold no words (only punctuation or spaces); give at least one word")
    return words


@torch.no_grad()
def encode_lyric_words(clip, lyrics: list[str], batch: int = 256) -> list[LyricTokens]:
    """One key per word: CLIP's embedding of each word on its own (each distinct word once); the
    pooled embedding is the whole lyric's, as `encode_lyric_tokens` computes it."""
    per_lyric = [lyric_words(text) for text in lyrics]
    distinct = list(dict.fromkeys(w for words in per_lyric for w in words))
    embeds = torch.cat([clip.embed_texts(distinct[i : i + batch]) for i in range(0, len(distinct), batch)])  # [U, D]
    row = {w: i for i, w in enumerate(distinct)}
    lines = encode_lyric_tokens(clip, lyrics, batch)
    return [LyricTokens(embeds[[row[w] for w in words]], words, line.pooled) for words, line in zip(per_lyric, lines)]


def encode_lyrics(clip, lyrics: list[str], keys: str = "tokens") -> list[LyricTokens]:
    """The keys lyric attention of this `keys` kind attends over (`options.ATTENTION_KEYS`)."""
    return encode_lyric_words(clip, lyrics) if keys == "words" else encode_lyric_tokens(clip, lyrics)
