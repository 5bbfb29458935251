"""The lyric attention checkpoint: the one module that reads and writes its format.

A checkpoint is one safetensors file:

    attention.*       LyricAttention weights
    audio_encoder.*   the audio encoder trained with it (optional)
    optim.<p>.<slot>  AdamW state, needed only to resume (dropped by `strip_for_release`)

and string metadata: the format name, the attention and audio encoder configs (so the file
rebuilds its own model), the training config, the history of metrics per epoch, the CLIP it was
trained with and the hash of the dataset it was trained on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..audio.encoder import CONFIG_KEY as AUDIO_KEY
from ..audio.encoder import AudioEncoder, AudioEncoderConfig
from ..errors import WeightsError
from ..options import TrainConfig, keys_from_end_token
from ..safeload import FORMAT_KEY, build_checked, metadata_config, read_weights, write_safetensors
from .model import AttentionConfig, LyricAttention

FORMAT = "lyric_attention"
ATTENTION_PREFIX = "attention."
AUDIO_PREFIX = "audio_encoder."
OPTIM_PREFIX = "optim."


@dataclass
class LoadedAttention:
    attention: LyricAttention
    audio_encoder: AudioEncoder | None
    history: list[dict]
    path: str

    @property
    def cfg(self) -> AttentionConfig:
        return self.attention.cfg


def _read(path, action: str) -> tuple[dict, dict]:
    state, meta = read_weights(path)
    if meta.get(FORMAT_KEY) != FORMAT:
        raise WeightsError(f"'{path}' is not a lyric attention file ({FORMAT_KEY}={meta.get(FORMAT_KEY)!r}); {action}")
    return state, meta


def _history(data) -> list[dict]:
    if not (isinstance(data, list) and all(isinstance(h, dict) for h in data)):
        raise TypeError("not a list of per-epoch records")
    return data


def _part(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _train_config(meta: dict, path) -> dict:
    saved = metadata_config(meta, "train_config", lambda d: keys_from_end_token(dict(d)), path, "a training config")
    saved.setdefault("keys", "tokens")  # a run saved before `keys` (and `end_token`) existed
    saved.setdefault("audio_mismatch", 0.0)  # a run saved before `audio_mismatch` existed
    return saved


def saved_train_config(path) -> dict:
    """The training settings a resumable run in `path` was saved with (so `--resume` continues it
    without being told its `keys`, `audio_mismatch` or `audio_only_genre_weight` again)."""
    _, meta = _read(path, "cannot --resume from it")
    return _train_config(meta, path)


def save_checkpoint(path, attention: LyricAttention, audio_encoder: AudioEncoder | None, optimizer, cfg: TrainConfig,
                    history: list[dict], dataset_hash: str) -> Path:
    """Write a resumable checkpoint atomically (a complete file replaces the old one, or nothing does)."""
    tensors = {ATTENTION_PREFIX + k: v for k, v in attention.state_dict().items()}
    if audio_encoder is not None:
        tensors.update({AUDIO_PREFIX + k: v for k, v in audio_encoder.state_dict().items()})
    for pid, slots in optimizer.state_dict()["state"].items():
        for name, value in slots.items():
            tensors[f"{OPTIM_PREFIX}{pid}.{name}"] = torch.as_tensor(value).float().reshape(-1) if name == "step" else value
    meta = {
        FORMAT_KEY: FORMAT,
        "attention_config": attention.cfg.to_json(),
        "train_config": json.dumps(dataclasses.asdict(cfg), sort_keys=True),
        "metrics": json.dumps(history),
        "epoch": str(len(history)),
        "clip_model_id": attention.cfg.clip_model_id,
        "genre_prompts": json.dumps(dict(zip(attention.cfg.genres, attention.cfg.prompts()))),
        "dataset_hash": dataset_hash,
    }
    if audio_encoder is not None:
        meta[AUDIO_KEY] = audio_encoder.cfg.to_json()
    return write_safetensors(path, tensors, meta)


def load_attention(path: str | os.PathLike, clip=None, device="cpu") -> LoadedAttention:
    """Load a checkpoint for use; with `clip`, check it was trained for that CLIP."""
    state, meta = _read(path, "train one with `lag train` or Train Lyric Attention")
    cfg = metadata_config(meta, "attention_config", AttentionConfig.from_dict, path, "a lyric attention config")
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
    att = build_checked(lambda: LyricAttention(cfg), _part(state, ATTENTION_PREFIX), path, "lyric attention")
    audio = None
    if AUDIO_KEY in meta:
        audio_cfg = metadata_config(meta, AUDIO_KEY, AudioEncoderConfig.from_dict, path, "an audio encoder config")
        audio = build_checked(lambda: AudioEncoder(audio_cfg), _part(state, AUDIO_PREFIX), path, "audio encoder")
    history = metadata_config(meta, "metrics", _history, path, "a training history", required=False) or []
    return LoadedAttention(att.to(device).eval(), audio.to(device).eval() if audio else None, history, str(path))


RESUMABLE_CHANGES = ("epochs",)  # what a resumed run may change: train for longer (or stop earlier)


def load_for_resume(path: Path, attention: LyricAttention, audio_encoder: AudioEncoder | None, optimizer,
                    cfg: TrainConfig, dataset_hash: str) -> list[dict]:
    """Restore a run saved by `save_checkpoint` into fresh modules and optimizer; returns its history.
    Refuses, naming what differs, when the run asks for other settings or another dataset than the
    checkpoint was trained with: continuing silently would be a different run under the old name."""
    state, meta = _read(path, "cannot --resume from it")
    if meta.get("release") == "true":
        raise WeightsError(f"'{path}' is a release file without optimizer state; it cannot be resumed, train into a new --out")
    saved = _train_config(meta, path)
    now = json.loads(json.dumps(dataclasses.asdict(cfg)))
    changed = [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in now.items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if meta.get("dataset_hash") != dataset_hash:
        changed.append(f"dataset {meta.get('dataset_hash')} -> {dataset_hash}")
    if changed:
        raise WeightsError(f"cannot resume '{path}': this run differs from the saved one ({'; '.join(changed)}); "
                           "use the saved settings and dataset, or train into a new --out")
    saved = metadata_config(meta, "attention_config", AttentionConfig.from_dict, path, "a lyric attention config")
    if saved != attention.cfg:
        old, new = json.loads(saved.to_json()), json.loads(attention.cfg.to_json())
        changed = [f"{k} {old.get(k)!r} -> {v!r}" for k, v in new.items() if old.get(k) != v]
        raise WeightsError(f"cannot resume '{path}': this run differs from the saved one ({'; '.join(changed)}); "
                           "use the same options and CLIP, or train into a new --out")
    attention.load_state_dict(_part(state, ATTENTION_PREFIX))
    if audio_encoder is not None:
        audio_encoder.load_state_dict(_part(state, AUDIO_PREFIX))
    opt_state = optimizer.state_dict()
    slots: dict = {}
    for key, value in _part(state, OPTIM_PREFIX).items():
        pid, name = key.split(".", 1)
        slots.setdefault(int(pid), {})[name] = value.reshape(()) if name == "step" else value
    opt_state["state"] = slots
    optimizer.load_state_dict(opt_state)
    return metadata_config(meta, "metrics", _history, path, "a training history")


def strip_for_release(path: str | os.PathLike) -> Path:
    """Drop the optimizer state (needed only to --resume) from a checkpoint, in place, atomically."""
    state, meta = _read(path, "only lyric attention checkpoints can be stripped")
    kept = {k: v for k, v in state.items() if not k.startswith(OPTIM_PREFIX)}
    return write_safetensors(path, kept, {**meta, "release": "true"})


def is_checkpoint(path: str | os.PathLike) -> bool:
    """True for a readable lyric attention file (ours), False for anything else."""
    try:
        _read(path, "")
    except WeightsError:
        return False
    return True
