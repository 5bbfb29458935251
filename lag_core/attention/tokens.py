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
import unicodedata
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError

END_LABEL = "[end]"


@dataclass
class LyricTokens:
    features: torch.Tensor  # [L, D], unit vectors
    labels: list[str]  # one per token, for heatmaps
    pooled: torch.Tensor | None  # [D], CLIP's pooled embedding of the lyric (mean over chunks), unit vector


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
                for wid in _pieces(_bpe(clip, word), room):  # a word longer than the context (text without spaces): in pieces
                    if len(line) + len(wid) > room:
                        chunks.append(line)
                        line = []
                    line += wid
            ids = line
        if len(chunks[-1]) + len(ids) > room:
            chunks.append([])
        chunks[-1] += ids
    return [c for c in chunks if c]


def _pieces(ids: list[int], room: int) -> list[list[int]]:
    return [ids[k : k + room] for k in range(0, len(ids), room)] or [[]]


def _token_label(clip, token_id: int) -> str:
    decoder = getattr(clip.tokenizer, "decoder", None)
    if decoder is None:
        return str(token_id)
    return decoder.get(token_id, "?").replace("</w>", "")


def _text_tower_tokens(model, text: torch.Tensor) -> torch.Tensor:
    """Per-token outputs of open_clip's CLIP text tower, projected: `[N, n]` ids -> `[N, n, D]`.

    `n` may be shorter than the context: the tower is causal (each position sees only those
    before it), so the outputs up to the end token do not depend on the padding after it, and
    rows padded only to the batch's longest save most of the work (a word is a few tokens of 77).
    """
    for name in ("token_embedding", "positional_embedding", "transformer", "ln_final"):
        if not hasattr(model, name):
            raise InputError(
                f"this CLIP model ({type(model).__name__}) has no '{name}': lyric attention needs an open_clip CLIP "
                "with the standard text transformer (OpenAI-style ViT or RN models)"
            )
    mask = model.attn_mask
    n = text.shape[1] if mask is not None else model.positional_embedding.shape[0]  # no causal mask: the full context
    if n > text.shape[1]:
        text = F.pad(text, (0, n - text.shape[1]))
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(text).to(cast) + model.positional_embedding[:n].to(cast)  # [N, n, W]
    x = model.ln_final(model.transformer(x, attn_mask=None if mask is None else mask[:n, :n]))  # [N, n, W]
    proj = model.text_projection
    if proj is None:
        return x
    return proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj  # [N, n, D]


def _special_ids(clip) -> tuple[int, int]:
    tok = clip.tokenizer
    sot = tok.sot_token_id if hasattr(tok, "sot_token_id") else tok.encoder["<start_of_text>"]
    eot = tok.eot_token_id if hasattr(tok, "eot_token_id") else tok.encoder["<end_of_text>"]
    return sot, eot


def _tower_rows(clip, rows: list[list[int]], batch: int) -> list[torch.Tensor]:
    """Unit features `[len(row), D]` of every id row (each a whole CLIP input: start ... end)."""
    out: list[torch.Tensor] = []
    for b in range(0, len(rows), batch):
        part = rows[b : b + batch]
        ids = torch.zeros(len(part), max(len(r) for r in part), dtype=torch.long)
        for r, row in enumerate(part):
            ids[r, : len(row)] = torch.tensor(row)
        feats = F.normalize(_text_tower_tokens(clip.model, ids.to(clip.device)).float(), dim=-1)  # [b, n, D]
        out += [feats[r, : len(row)] for r, row in enumerate(part)]
    return out


@torch.no_grad()
def encode_lyric_tokens(clip, lyrics: list[str], batch: int = 256) -> list[LyricTokens]:
    """Token features for each lyric (one forward pass over all chunks, in batches)."""
    sot, eot = _special_ids(clip)
    owners, rows = [], []
    for i, text in enumerate(lyrics):
        for chunk in split_lyrics(clip, text):
            owners.append(i)
            rows.append([sot, *chunk, eot])
    feats = _tower_rows(clip, rows, batch)
    out_feats: list[list[torch.Tensor]] = [[] for _ in lyrics]
    out_labels: list[list[str]] = [[] for _ in lyrics]
    pooled: list[list[torch.Tensor]] = [[] for _ in lyrics]
    for f, owner, row in zip(feats, owners, rows):
        out_feats[owner].append(f[1:])  # content tokens + end token, [n-1, D]
        out_labels[owner] += [_token_label(clip, t) for t in row[1:-1]] + [END_LABEL]
        pooled[owner].append(f[-1])  # CLIP pools at the end-of-text token
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
    """The words of a lyric, in order: split at white space, lower case, with the punctuation at
    either end of each dropped ("Fire," -> "fire", "we're" stays). Symbols stay (a line of "♪" is one
    word); a lyric of punctuation only keeps its pieces as they are. Scripts written without spaces
    (Chinese, Japanese, Thai) give one word per phrase."""
    pieces = unicodedata.normalize("NFC", lyrics).lower().split()
    if not pieces:
        raise InputError("lyrics are empty; give at least one word")
    words = [w for w in (_strip_punctuation(p) for p in pieces) if w]
    return words or pieces


def _strip_punctuation(word: str) -> str:
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(word[end - 1]).startswith("P"):
        end -= 1
    return word[start:end]


@torch.no_grad()
def encode_lyric_words(clip, lyrics: list[str], batch: int = 256, pooled: bool = True) -> list[LyricTokens]:
    """One key per word: CLIP's embedding of the word on its own, pooled at its end token as CLIP
    pools a caption (each distinct word computed once; a word longer than the context is embedded
    in pieces, a key each). `pooled`: also the whole lyric's embedding (as `encode_lyric_tokens`
    computes it), which training needs and inference does not."""
    sot, eot = _special_ids(clip)
    room = clip.context_length - 2
    per_lyric = [lyric_words(text) for text in lyrics]
    distinct = list(dict.fromkeys(w for words in per_lyric for w in words))
    rows, labels, span = [], [], {}
    for word in distinct:
        parts = _pieces(_bpe(clip, word), room)
        span[word] = range(len(rows), len(rows) + len(parts))  # its rows (keys)
        rows += [[sot, *ids, eot] for ids in parts]
        labels += [word] if len(parts) == 1 else ["".join(_token_label(clip, t) for t in ids) for ids in parts]
    embeds = torch.stack([f[-1] for f in _tower_rows(clip, rows, batch)])  # [R, D]: each row pooled at its end token
    lines = encode_lyric_tokens(clip, lyrics, batch) if pooled else [None] * len(lyrics)
    out = []
    for words, line in zip(per_lyric, lines):
        idx = [k for w in words for k in span[w]]
        out.append(LyricTokens(embeds[idx], [labels[k] for k in idx], None if line is None else line.pooled))
    return out


def encode_lyrics(clip, lyrics: list[str], keys: str = "tokens", pooled: bool = True) -> list[LyricTokens]:
    """What lyric attention with these `keys` (`options.ATTENTION_KEYS`) attends over; `pooled`:
    also each lyric's pooled CLIP embedding (training's lyric targets)."""
    if keys == "words":
        return encode_lyric_words(clip, lyrics, pooled=pooled)
    items = encode_lyric_tokens(clip, lyrics)
    if keys == "content":  # without the end tokens (of every chunk), unless that leaves nothing
        for t in items:
            keep = [k for k, label in enumerate(t.labels) if label != END_LABEL]
            if keep:
                t.features, t.labels = t.features[keep], [t.labels[k] for k in keep]
    return items
