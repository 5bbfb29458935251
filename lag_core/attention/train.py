"""Train lyric attention (and the audio encoder) with the genre-weighted CLIP loss.

Runs in one process, or under `torchrun` with torch.distributed DDP (gloo on CPU, nccl on GPU):
every global batch is sharded across ranks, conditionings are all-gathered (with gradients) so
the contrastive loss sees the whole batch exactly as one process would, gradients are
all-reduced by DDP, and only rank 0 writes files. Data order and dropout are seeded from
(seed, epoch, step), so a run is reproducible and `resume` continues it exactly.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..audio.encoder import AudioEncoder, AudioEncoderConfig
from ..errors import InputError
from ..options import TrainConfig
from .checkpoint import load_for_resume, save_checkpoint
from .features import text_features
from .loss import genre_weighted_loss
from .model import AttentionConfig, LyricAttention

log = logging.getLogger("lag")


class Trainable(nn.Module):
    """Attention plus (optionally) the audio encoder, trained together."""

    def __init__(self, att_cfg: AttentionConfig, audio_cfg: AudioEncoderConfig | None):
        super().__init__()
        self.attention = LyricAttention(att_cfg)
        self.audio_encoder = AudioEncoder(audio_cfg) if audio_cfg is not None else None

    def forward(self, keys, mask, genre, mfcc=None, genre_present=None):
        audio = self.audio_encoder.embed(mfcc) if self.audio_encoder is not None and mfcc is not None else None
        return self.attention(keys, mask, genre=genre, audio=audio, genre_present=genre_present)


@dataclass
class TrainResult:
    model: Trainable
    history: list[dict]
    seconds: float
    from_cache: bool  # the CLIP text features came from the on-disk cache


def split_indices(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified by genre: every genre with 2+ entries has at least one in each split."""
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for genre in labels.unique().tolist():
        idx = (labels == genre).nonzero()[:, 0]
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def _dist():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed_from_env() -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); gloo on CPU, nccl on CUDA."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_available() and dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() and os.environ.get("LAG_DIST_BACKEND") != "gloo" else "gloo"
    dist.init_process_group(backend=backend)
    return True


def _gather(cond: torch.Tensor, world: int) -> torch.Tensor:
    if world == 1:
        return cond
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(cond))  # [world * k, D], differentiable


def _image_embeds(clip, image_dir: str | None, genres) -> torch.Tensor | None:
    """Mean CLIP image embedding of `image_dir/<genre>/*` per genre (reference images)."""
    if not image_dir:
        return None
    from ..imageio import load_image

    root = Path(image_dir)
    out = []
    for genre in genres:
        files = sorted(p for p in (root / genre).glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not files:
            raise InputError(f"reference image folder '{root / genre}' has no images; put a few .png/.jpg per genre there")
        embeds = torch.cat([clip.embed_images(load_image(f)[None].to(clip.device)) for f in files])
        out.append(torch.nn.functional.normalize(embeds.mean(0), dim=-1))
    return torch.stack(out).cpu()


def _other_genre_partners(labels: torch.Tensor) -> torch.Tensor:
    """`labels [N]` -> `[N]` positions: a permutation pairing each entry with one of another genre where
    it can (sorted by genre, shifted by the largest genre's count; only a genre with more than half of
    the entries keeps some pairs within itself)."""
    if labels.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.argsort(labels, stable=True)
    partner = torch.empty_like(order)
    partner[order] = order.roll(-int(torch.bincount(labels).max()))
    return partner


def _evaluate(model: Trainable, feats, mfcc, labels, idx, scale, genre_weight, image_embeds) -> dict:
    model.eval()
    with torch.no_grad():
        genre_q = feats.genres[labels[idx]]
        cond, _ = model(feats.tokens[idx], feats.mask[idx], genre_q, mfcc[idx] if model.audio_encoder else None)
        loss, parts = genre_weighted_loss(cond, labels[idx], feats.genres, feats.lyrics[idx], feats.lyric_ids[idx],
                                          scale, genre_weight, image_embeds)
        acc = ((cond @ feats.genres.T).argmax(1) == labels[idx]).float().mean()
        out = {"val_loss": float(loss), "val_acc": float(acc), **{f"val_{k}": v for k, v in parts.items()}}
        if model.audio_encoder is not None:
            no_genre = torch.zeros(len(idx), dtype=torch.bool)
            cond_a, _ = model(feats.tokens[idx], feats.mask[idx], genre_q, mfcc[idx], no_genre)
            out["val_acc_audio_only"] = float(((cond_a @ feats.genres.T).argmax(1) == labels[idx]).float().mean())
            # The genre given, another genre's audio (every clip heard once): does the genre win?
            val = labels[idx]
            other = _other_genre_partners(val)
            keep = val[other] != val
            if bool(keep.any()):
                cond_c, _ = model(feats.tokens[idx], feats.mask[idx], genre_q, mfcc[idx[other]])
                right = (cond_c @ feats.genres.T).argmax(1) == val
                out["val_acc_genre_over_audio"] = float(right[keep].float().mean())
    model.train()
    return out


@dataclass(frozen=True)
class Shard:
    """One rank's share of a global batch of `size` entries under DDP.

    Every rank takes `per_rank = ceil(size / world)` slots; slots past the end of the batch are
    padded with its entry 0 (`valid` is False there), so all ranks run the same shapes. After the
    all-gather, `keep` selects the real entries, in batch order, from the `world * per_rank` rows.
    """

    positions: torch.Tensor  # [per_rank] positions in the batch (0 where padded)
    valid: torch.Tensor  # [per_rank] bool
    keep: torch.Tensor  # [world * per_rank] bool


def shard_batch(size: int, rank: int, world: int) -> Shard:
    per_rank = -(-size // world)
    slots = torch.arange(world * per_rank).view(world, per_rank)  # [world, per_rank]
    keep = (slots < size).reshape(-1)
    mine = slots[rank]
    valid = mine < size
    return Shard(torch.where(valid, mine, torch.zeros_like(mine)), valid, keep)


def train_attention(dataset, clip, cfg: TrainConfig, checkpoint: str | os.PathLike | None = None, *,
                    resume: bool = False, callback=None) -> TrainResult:
    """Train on `dataset` with frozen `clip`; returns the model and its history (draws nothing).

    `callback(step, total_steps, info)` is called after every optimizer step (`info`: `epoch`,
    `loss`, and at the last step of an epoch `record`, that epoch's history row); raising in it
    stops the run within a step. After each epoch a resumable checkpoint is written atomically to
    `checkpoint` (rank 0 only). With `resume`,
    training continues from the run saved in `checkpoint`. Runs with gradients: a caller inside
    ComfyUI leaves its inference mode first.
    """
    cfg.validate()
    rank, world = _dist()
    start = time.perf_counter()
    att_cfg = AttentionConfig(kind=cfg.kind, dim=clip.embed_dim, heads=cfg.heads, hidden=cfg.hidden, dropout=cfg.dropout,
                              use_audio=cfg.use_audio, genre_template=cfg.genre_template,
                              genre_prompts=dict(cfg.genre_prompts), clip_model_id=clip.model_id, keys=cfg.keys)
    audio_cfg = AudioEncoderConfig(embed_dim=clip.embed_dim, channels=tuple(cfg.audio_channels), dropout=cfg.dropout,
                                   seed=cfg.seed) if cfg.use_audio else None
    labels = torch.tensor([e.genre_idx for e in dataset.entries])
    train_idx, val_idx = split_indices(labels, cfg.val_fraction, cfg.seed)
    if len(train_idx) < 2:
        raise InputError(f"dataset has {len(dataset)} entries; training needs at least 2 after the validation split")
    absent = sorted(set(cfg.genre_prompts) - {e.genre for e in dataset.entries})
    if absent:
        raise InputError(f"genre prompts given for {', '.join(absent)}, which the dataset has no entries of; "
                         f"it has {', '.join(sorted({e.genre for e in dataset.entries}))}")
    steps_per_epoch = sum(1 for b in range(0, len(train_idx), cfg.batch_size) if len(train_idx) - b >= 2)
    total_steps = steps_per_epoch * cfg.epochs
    with torch.random.fork_rng(devices=[]):
        # Text features: rank 0 computes (or reads) the cache first, the others then read it.
        import torch.distributed as dist

        if world > 1 and rank != 0:
            dist.barrier()
        feats = text_features(clip, dataset, att_cfg.prompts(), keys=att_cfg.keys)
        if world > 1 and rank == 0:
            dist.barrier()
        image_embeds = _image_embeds(clip, cfg.image_dir, att_cfg.genres)
        scale = float(clip.model.logit_scale.detach().exp().clamp(max=100))
        mfcc = dataset.mfcc.float().clone()  # inputs may be inference tensors (made in a ComfyUI node)
        feats = _detached_copy(feats)
        torch.manual_seed(cfg.seed)
        model = Trainable(att_cfg, audio_cfg)
        if model.audio_encoder is not None:
            model.audio_encoder.fit_normalization(mfcc[train_idx])
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        history: list[dict] = []
        if resume and checkpoint is not None and Path(checkpoint).is_file():
            history = load_for_resume(Path(checkpoint), model.attention, model.audio_encoder, optimizer, cfg,
                                      dataset.content_hash())
        net = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model)
        model.train()
        for epoch in range(len(history), cfg.epochs):
            g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            order = train_idx[torch.randperm(len(train_idx), generator=g)]
            losses = []
            for step, batch in enumerate(order.split(cfg.batch_size)):
                if len(batch) < 2:
                    continue  # a lone leftover entry has nothing to contrast with
                present = torch.rand(len(batch), generator=g) >= (cfg.genre_dropout if cfg.use_audio else 0.0)
                heard = batch  # whose audio each entry hears
                if cfg.use_audio and cfg.audio_mismatch > 0:
                    swap = present & (torch.rand(len(batch), generator=g) < cfg.audio_mismatch)
                    heard = torch.where(swap, train_idx[torch.randint(len(train_idx), (len(batch),), generator=g)], batch)
                torch.manual_seed(cfg.seed * 7919 + epoch * 1009 + step)  # dropout, same in every rank and on resume
                shard = shard_batch(len(batch), rank, world)
                idx = batch[shard.positions]
                cond, _ = net(feats.tokens[idx], feats.mask[idx], feats.genres[labels[idx]],
                              mfcc[heard[shard.positions]] if cfg.use_audio else None, present[shard.positions])
                cond = _gather(cond, world)  # [world * per_rank, D]
                target_weight = None if cfg.audio_only_genre_weight is None else \
                    torch.where(present, cfg.genre_weight, cfg.audio_only_genre_weight)
                loss, _ = genre_weighted_loss(cond[shard.keep], labels[batch], feats.genres, feats.lyrics[batch],
                                              feats.lyric_ids[batch], scale, cfg.genre_weight, image_embeds, target_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                if callback is not None and len(losses) < steps_per_epoch:
                    callback(epoch * steps_per_epoch + len(losses), total_steps, {"epoch": epoch + 1, "loss": losses[-1]})
            record = {"epoch": epoch + 1, "train_loss": sum(losses) / max(1, len(losses)),
                      **_evaluate(model, feats, mfcc, labels, val_idx, scale, cfg.genre_weight, image_embeds)}
            history.append(record)
            if rank == 0 and checkpoint is not None:
                save_checkpoint(checkpoint, model.attention, model.audio_encoder, optimizer, cfg, history,
                                dataset.content_hash())
            if callback is not None:
                callback((epoch + 1) * steps_per_epoch, total_steps,
                         {"epoch": epoch + 1, "loss": losses[-1] if losses else float("nan"), "record": record})
    return TrainResult(model.eval(), history, time.perf_counter() - start, feats.from_cache)


def _detached_copy(feats):
    import dataclasses as dc

    return dc.replace(feats, **{f.name: getattr(feats, f.name).clone() for f in dc.fields(feats)
                                if isinstance(getattr(feats, f.name), torch.Tensor)})


def curves_path(out: str | os.PathLike) -> Path:
    """Where the CLI draws the training curves of `out`: beside it, `<stem>_curves.png`."""
    out = Path(out)
    return out.with_name(out.stem + "_curves.png")


def train_to_file(dataset, clip, cfg: TrainConfig, out: str | os.PathLike, callback=None) -> TrainResult:
    """Train and write the weights to `out` only when the run is complete: epochs are checkpointed
    to a hidden file of ours beside it (`.<name>.partial`), which replaces `out` at the end. A failed
    or cancelled run removes that file and leaves an existing `out` as it was."""
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    try:
        result = train_attention(dataset, clip, cfg, partial, callback=callback)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return result
