"""The genre-weighted CLIP loss used to train lyric attention.

A symmetric InfoNCE (CLIP-style, Radford et al. 2021) between each entry's conditioning and two
kinds of targets, with multi-positive rows (entries sharing a genre, or identical lyric lines,
are all positives):

    loss = genre_weight * L(cond, genre prompts [+ genre reference images])
         + (1 - genre_weight) * L(cond, lyric text embeddings)
         + (1 - cos(cond, normalize(w * genre target + (1 - w) * lyric)))

with `w` the genre weight (or, per entry, a target weight: `TrainConfig.audio_only_genre_weight` for the
entries trained without their genre label).

The last term pulls the conditioning onto the genre-weighted target that the sampler will chase
(InfoNCE alone only ranks, and stops pulling once the genre ranks first).

Logits are cosine similarities times CLIP's own logit scale (its learned temperature).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def multi_positive_nce(logits: torch.Tensor, positives: torch.Tensor, every_positive: bool = False) -> torch.Tensor:
    """Rows: -log of the softmax mass on the positives, averaged over rows with a positive.

    `every_positive`: instead, the mean over a row's positives of each one's -log softmax (the
    supervised contrastive loss, Khosla et al. 2020). The mass on the positives is met by the
    easiest positives alone (a genre phrase by the pictures of its genre easiest to tell); this asks
    for every one of them."""
    log_prob = logits.log_softmax(dim=-1)
    has = positives.any(dim=-1)
    if every_positive:
        per_row = log_prob.masked_fill(~positives, 0.0).sum(dim=-1) / positives.sum(dim=-1).clamp_min(1)
        return -per_row[has].mean()
    masked = log_prob.masked_fill(~positives, float("-inf"))
    return -masked.logsumexp(dim=-1)[has].mean()


def symmetric_nce(cond: torch.Tensor, targets: torch.Tensor, positives: torch.Tensor, scale: float) -> torch.Tensor:
    """`cond [B, D]`, `targets [T, D]`, `positives [B, T]` -> mean of both directions."""
    logits = scale * cond @ targets.T  # [B, T]
    return 0.5 * (multi_positive_nce(logits, positives) + multi_positive_nce(logits.T, positives.T))


def genre_weighted_loss(
    cond: torch.Tensor,
    labels: torch.Tensor,
    genre_embeds: torch.Tensor,
    lyric_embeds: torch.Tensor,
    lyric_ids: torch.Tensor,
    scale: float,
    genre_weight: float,
    image_embeds: torch.Tensor | None = None,
    target_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict]:
    """`labels [B]` genre indices; `lyric_ids [B]` equal for identical lyric text; `target_weight [B]` the
    genre's share of each entry's target in the align term (default `genre_weight` for every entry)."""
    genre_pos = labels[:, None] == torch.arange(genre_embeds.shape[0], device=labels.device)[None]  # [B, G]
    genre_loss = symmetric_nce(cond, genre_embeds, genre_pos, scale)
    if image_embeds is not None:
        genre_loss = 0.5 * (genre_loss + symmetric_nce(cond, image_embeds, genre_pos, scale))
    lyric_pos = lyric_ids[:, None] == lyric_ids[None]  # [B, B]
    lyric_loss = symmetric_nce(cond, lyric_embeds, lyric_pos, scale)
    # InfoNCE only ranks: once the genre is ranked first it stops pulling, and the harder lyric
    # term drags the conditioning away from every genre. The sampler, though, moves the picture
    # towards the conditioning itself, so also pull it onto the genre-weighted target.
    genre_target = genre_embeds[labels]  # [B, D]
    if image_embeds is not None:
        genre_target = F.normalize(genre_target + image_embeds[labels], dim=-1)
    w = torch.full_like(labels, genre_weight, dtype=cond.dtype) if target_weight is None else target_weight.to(cond.dtype)
    target = F.normalize(w[:, None] * genre_target + (1 - w[:, None]) * lyric_embeds, dim=-1)  # [B, D]
    align = (1 - (cond * target).sum(-1)).mean()
    total = genre_weight * genre_loss + (1 - genre_weight) * lyric_loss + align
    return total, {"genre_loss": float(genre_loss.detach()), "lyric_loss": float(lyric_loss.detach()),
                   "align_loss": float(align.detach())}
