"""CLIP text features of a dataset, computed once and cached on disk.

CLIP is frozen during attention training, so the lyric token (or word) features, the pooled lyric
embeddings and the genre prompt embeddings never change: they are computed once per (dataset
content, CLIP model, genre prompts) and kept in a safetensors file, so epochs do not re-run CLIP.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..safeload import FORMAT_KEY, write_safetensors
from .tokens import encode_lyrics, pad_tokens

log = logging.getLogger("lag")
KEYS_VERSION = 2  # bump when the features of a `keys` kind change (how words are split, say): old caches are not served


@dataclass
class TextFeatures:
    tokens: torch.Tensor  # [N, L, D]
    mask: torch.Tensor  # [N, L] bool
    lyrics: torch.Tensor  # [N, D] pooled lyric embeddings (unit)
    genres: torch.Tensor  # [G, D] genre prompt embeddings (unit)
    lyric_ids: torch.Tensor  # [N] equal ids for identical lyric text
    from_cache: bool = False


def cache_dir() -> Path:
    return Path(os.environ.get("LAG_CACHE_DIR", Path.home() / ".cache" / "lag")) / "text_features"


def cache_key(dataset_hash: str, clip_model_id: str, prompts: list[str], keys: str = "tokens") -> str:
    text = json.dumps([dataset_hash, clip_model_id, prompts, keys, KEYS_VERSION])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def compute_text_features(clip, lyrics: list[str], prompts: list[str], keys: str = "tokens") -> TextFeatures:
    items = encode_lyrics(clip, lyrics, keys)
    tokens, mask = pad_tokens(items)  # [N, L, D], [N, L]
    pooled = torch.stack([t.pooled for t in items])  # [N, D]
    genres = clip.embed_texts(prompts)
    ids = {text: i for i, text in enumerate(dict.fromkeys(lyrics))}
    lyric_ids = torch.tensor([ids[t] for t in lyrics])
    return TextFeatures(tokens.cpu(), mask.cpu(), pooled.cpu(), genres.cpu(), lyric_ids)


def text_features(clip, dataset, prompts: list[str], use_cache: bool = True, directory: Path | None = None,
                  keys: str = "tokens") -> TextFeatures:
    """Cached text features of `dataset` for `clip`, the genre `prompts` and the attention's `keys`."""
    lyrics = [e.lyrics for e in dataset.entries]
    if not use_cache:
        return compute_text_features(clip, lyrics, prompts, keys)
    from safetensors.torch import load_file

    path = (directory or cache_dir()) / f"{cache_key(dataset.content_hash(), clip.model_id, prompts, keys)}.safetensors"
    if path.is_file():
        try:
            t = load_file(str(path))
            return TextFeatures(t["tokens"].float(), t["mask"].bool(), t["lyrics"].float(), t["genres"].float(), t["lyric_ids"], True)
        except Exception as exc:  # noqa: BLE001 - a broken cache is recomputed, never trusted
            log.warning("text feature cache %s is unreadable (%s); recomputing", path, type(exc).__name__)
    feats = compute_text_features(clip, lyrics, prompts, keys)
    write_safetensors(path, {
        "tokens": feats.tokens, "mask": feats.mask.to(torch.uint8), "lyrics": feats.lyrics,
        "genres": feats.genres, "lyric_ids": feats.lyric_ids,
    }, {FORMAT_KEY: "text_features", "clip_model_id": clip.model_id})
    return feats
