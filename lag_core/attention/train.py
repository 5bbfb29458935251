"""Train lyric attention (and the audio encoder) with the genre-weighted CLIP loss.

Runs in one process, or under `torchrun` with torch.distributed DDP (gloo on CPU, nccl on GPU):
every global batch is sharded across ranks, conditionings are all-gathered (with gradients) so
the contrastive loss sees the whole batch exactly as one process would, gradients are
all-reduced by DDP, and only rank 0 writes files. Data order and dropout are seeded from
(seed, epoch, step), so a run is reproducible and `resume` continues it exactly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..audio.encoder import AudioEncoder, AudioEncoderConfig
from ..errors import InputError, WeightsError
from ..safeload import read_weights, write_safetensors
from .features import text_features
from .loss import genre_weighted_loss
from .model import DEFAULT_TEMPLATE, AttentionConfig, LyricAttention

log = logging.getLogger("lag")
FORMAT = "lyric_attention"


@dataclass
class TrainConfig:
    kind: str = "mha"
    genre_weight: float = 0.7
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    val_fraction: float = 0.25
    seed: int = 0
    use_audio: bool = True
    genre_dropout: float = 0.5  # drop the genre from the query for this share of entries, so audio learns genre
    heads: int = 4
    hidden: int = 128
    dropout: float = 0.0
    audio_channels: tuple[int, ...] = (64, 64, 128)
    genre_template: str = DEFAULT_TEMPLATE
    genre_prompts: dict = field(default_factory=dict)
    image_dir: str | None = None
    use_cache: bool = True  # False: re-run CLIP on the lyrics every epoch (only for benchmarks)

    def validate(self) -> None:
        if not 0 <= self.genre_weight <= 1:
            raise InputError(f"genre weight must be in [0, 1], found {self.genre_weight}")
        if self.epochs < 1:
            raise InputError(f"epochs must be at least 1, found {self.epochs}")
        if self.batch_size < 2:
            raise InputError(f"batch size must be at least 2 (the loss contrasts entries), found {self.batch_size}")
        if not 0 < self.val_fraction < 1:
            raise InputError(f"validation fraction must be in (0, 1), found {self.val_fraction}")
        if "{genre}" not in self.genre_template:
            raise InputError(f"genre template must contain '{{genre}}', found '{self.genre_template}'")


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
    from_cache: bool
    out: Path | None


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
        embeds = torch.cat([clip.encode_image_normalized(load_image(f)[None].to(clip.device)) for f in files])
        out.append(torch.nn.functional.normalize(embeds.mean(0), dim=-1))
    return torch.stack(out).cpu()


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
    model.train()
    return out


def train_attention(dataset, clip, cfg: TrainConfig, out: str | os.PathLike | None = None, *,
                    resume: bool = False, callback=None) -> TrainResult:
    """Train on `dataset` with frozen `clip`. `callback(epoch, epochs, info)` once per epoch; it may raise to stop."""
    cfg.validate()
    rank, world = _dist()
    start = time.perf_counter()
    att_cfg = AttentionConfig(kind=cfg.kind, dim=clip.embed_dim, heads=cfg.heads, hidden=cfg.hidden, dropout=cfg.dropout,
                              use_audio=cfg.use_audio, genre_template=cfg.genre_template,
                              genre_prompts=dict(cfg.genre_prompts), clip_model_id=clip.model_id)
    audio_cfg = AudioEncoderConfig(embed_dim=clip.embed_dim, channels=tuple(cfg.audio_channels), dropout=cfg.dropout,
                                   seed=cfg.seed) if cfg.use_audio else None
    labels = torch.tensor([e.genre_idx for e in dataset.entries])
    train_idx, val_idx = split_indices(labels, cfg.val_fraction, cfg.seed)
    if len(train_idx) < 2:
        raise InputError(f"dataset has {len(dataset)} entries; training needs at least 2 after the validation split")
    # ComfyUI runs nodes under inference mode: leave it, and clone every input we train through.
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
        # Text features: rank 0 computes (or reads) the cache first, the others then read it.
        import torch.distributed as dist

        if world > 1 and rank != 0:
            dist.barrier()
        feats = text_features(clip, dataset, att_cfg.prompts(), use_cache=cfg.use_cache)
        if world > 1 and rank == 0:
            dist.barrier()
        image_embeds = _image_embeds(clip, cfg.image_dir, att_cfg.genres)
        scale = float(clip.model.logit_scale.detach().exp().clamp(max=100))
        mfcc = dataset.mfcc.float().clone()
        feats = _detached_copy(feats)
        torch.manual_seed(cfg.seed)
        model = Trainable(att_cfg, audio_cfg)
        if model.audio_encoder is not None:
            model.audio_encoder.fit_normalization(mfcc[train_idx])
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        history: list[dict] = []
        first_epoch = 0
        if resume and out is not None and Path(out).is_file():
            first_epoch, history = _load_for_resume(Path(out), model, optimizer, att_cfg, cfg)
        net = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model)
        model.train()
        for epoch in range(first_epoch, cfg.epochs):
            if not cfg.use_cache and epoch > first_epoch:
                feats = text_features(clip, dataset, att_cfg.prompts(), use_cache=False)  # what a naive loop does
            g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            order = train_idx[torch.randperm(len(train_idx), generator=g)]
            losses = []
            for step, batch in enumerate(order.split(cfg.batch_size)):
                if len(batch) < 2:
                    continue  # a lone leftover entry has nothing to contrast with
                present = torch.rand(len(batch), generator=g) >= (cfg.genre_dropout if cfg.use_audio else 0.0)
                torch.manual_seed(cfg.seed * 7919 + epoch * 1009 + step)  # dropout, same in every rank and on resume
                k = -(-len(batch) // world)
                local = torch.arange(rank * k, (rank + 1) * k)
                valid = local < len(batch)
                local = torch.where(valid, local, torch.zeros_like(local))  # pad the shard with entry 0
                idx = batch[local]
                cond, _ = net(feats.tokens[idx], feats.mask[idx], feats.genres[labels[idx]],
                              mfcc[idx] if cfg.use_audio else None, present[local])
                cond = _gather(cond, world)  # [world * k, D]
                keep = torch.cat([(torch.arange(r * k, (r + 1) * k) < len(batch)) for r in range(world)])
                loss, _ = genre_weighted_loss(cond[keep], labels[batch], feats.genres, feats.lyrics[batch],
                                              feats.lyric_ids[batch], scale, cfg.genre_weight, image_embeds)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            record = {"epoch": epoch + 1, "train_loss": sum(losses) / max(1, len(losses)),
                      **_evaluate(model, feats, mfcc, labels, val_idx, scale, cfg.genre_weight, image_embeds)}
            history.append(record)
            if rank == 0 and out is not None:
                save_checkpoint(out, model, optimizer, cfg, history, dataset.content_hash())
            if callback is not None:
                callback(epoch + 1, cfg.epochs, record)
    if rank == 0 and out is not None:
        from ..viz import plot_training_curves

        plot_training_curves(history, curves_path(out))
    return TrainResult(model.eval(), history, time.perf_counter() - start, feats.from_cache, Path(out) if out else None)


def _detached_copy(feats):
    import dataclasses as dc

    return dc.replace(feats, **{f.name: getattr(feats, f.name).clone() for f in dc.fields(feats)
                                if isinstance(getattr(feats, f.name), torch.Tensor)})


def curves_path(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.stem + "_curves.png")


def save_checkpoint(path, model: Trainable, optimizer, cfg: TrainConfig, history: list[dict], dataset_hash: str) -> Path:
    tensors = {f"attention.{k}": v for k, v in model.attention.state_dict().items()}
    if model.audio_encoder is not None:
        tensors.update({f"audio_encoder.{k}": v for k, v in model.audio_encoder.state_dict().items()})
    state = optimizer.state_dict()
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{pid}.{name}"] = torch.as_tensor(value).float().reshape(-1) if name == "step" else value
    from ..audio.encoder import CONFIG_KEY as AUDIO_KEY

    meta = {
        "lag_format": FORMAT,
        "attention_config": model.attention.cfg.to_json(),
        "train_config": json.dumps(dataclasses.asdict(cfg), sort_keys=True),
        "metrics": json.dumps(history),
        "epoch": str(len(history)),
        "clip_model_id": model.attention.cfg.clip_model_id,
        "genre_prompts": json.dumps(dict(zip(model.attention.cfg.genres, model.attention.cfg.prompts()))),
        "dataset_hash": dataset_hash,
    }
    if model.audio_encoder is not None:
        meta[AUDIO_KEY] = model.audio_encoder.cfg.to_json()
    return write_safetensors(path, tensors, meta)


def strip_for_release(path: str | os.PathLike) -> Path:
    """Drop the optimizer state (needed only to --resume) from a checkpoint, in place, atomically."""
    state, meta = read_weights(path)
    if meta.get("lag_format") != FORMAT:
        raise WeightsError(f"'{path}' is not a lyric attention checkpoint")
    kept = {k: v for k, v in state.items() if not k.startswith("optim.")}
    return write_safetensors(path, kept, {**meta, "release": "true"})


def _load_for_resume(path: Path, model: Trainable, optimizer, att_cfg: AttentionConfig, cfg: TrainConfig):
    state, meta = read_weights(path)
    if meta.get("lag_format") != FORMAT:
        raise WeightsError(f"'{path}' is not a lyric attention checkpoint; cannot --resume from it")
    if meta.get("release") == "true":
        raise WeightsError(f"'{path}' is a release file without optimizer state; it cannot be resumed, train into a new --out")
    saved = AttentionConfig.from_json(meta["attention_config"])
    if saved != att_cfg:
        raise WeightsError(f"cannot resume '{path}': it was trained with {saved.to_json()}, this run asks for {att_cfg.to_json()}; "
                           "use the same options or a new --out")
    model.attention.load_state_dict({k[len("attention."):]: v for k, v in state.items() if k.startswith("attention.")})
    if model.audio_encoder is not None:
        model.audio_encoder.load_state_dict({k[len("audio_encoder."):]: v for k, v in state.items() if k.startswith("audio_encoder.")})
    opt_state = optimizer.state_dict()
    slots: dict = {}
    for key, value in state.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            slots.setdefault(int(pid), {})[name] = value.reshape(()) if name == "step" else value
    opt_state["state"] = slots
    optimizer.load_state_dict(opt_state)
    history = json.loads(meta["metrics"])
    return len(history), history
