"""Benchmark: attention training throughput with the CLIP text-feature cache vs without.

Without the cache, the CLIP text tower runs over every lyric at every epoch (as a naive training
loop would): here the naive run recomputes the features at the end of every epoch, in the
callback, so the trainer itself has no benchmark-only branch. With the cache, the features come
from disk. Same data, same model, same seeds.

    .venv/bin/python bench/bench_train.py [--clip ViT-B-32:random] [--epochs 5] [--copies 8]

`--copies N` repeats the bundled sample N times (with distinct lyric lines) to get a bigger set.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

import torch

from lag_core.attention.features import compute_text_features
from lag_core.attention.model import AttentionConfig
from lag_core.attention.train import train_attention
from lag_core.data.dataset import LAGDataset, open_dataset
from lag_core.models import make_clip
from lag_core.options import TrainConfig


def bigger_sample(copies: int) -> LAGDataset:
    ds = open_dataset(None)
    entries = [dataclasses.replace(e, file_name=f"{e.file_name}_{c}", lyrics=f"{e.lyrics} (take {c})")
               for c in range(copies) for e in ds.entries]
    return LAGDataset(None, entries, ds.mfcc.repeat(copies, 1, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default="ViT-B-32:random")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--copies", type=int, default=8)
    args = ap.parse_args()
    os.environ["LAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="lag-bench-cache-")
    clip = make_clip(args.clip)
    ds = bigger_sample(args.copies)
    per_epoch = {}
    cfg = TrainConfig(epochs=args.epochs, batch_size=32)
    prompts = AttentionConfig(genre_template=cfg.genre_template).prompts()
    lyrics = [e.lyrics for e in ds.entries]
    for use_cache in (True, False):

        def epoch_end(e, n, info, stamps, naive=not use_cache):
            if "record" not in info:  # a step inside an epoch
                return
            if naive:  # what a loop without the cache does once per epoch
                compute_text_features(clip, lyrics, prompts, cfg.keys)
            stamps.append(time.perf_counter())

        # Time each epoch through the callback; the first epoch includes (or fills) the cache.
        stamps = [time.perf_counter()]
        train_attention(ds, clip, cfg, None, callback=lambda e, n, info, stamps=stamps: epoch_end(e, n, info, stamps))
        times = [b - a for a, b in zip(stamps, stamps[1:])]
        per_epoch[use_cache] = sum(times[1:]) / max(1, len(times) - 1)
        label = "cache" if use_cache else "no cache"
        print(f"{label:9s}: first epoch {times[0]:7.3f} s, later epochs {per_epoch[use_cache]:7.3f} s "
              f"({len(ds) / per_epoch[use_cache]:8.1f} entries/s)")
    print(f"clip={args.clip} entries={len(ds)} threads={torch.get_num_threads()}")
    print(f"cache speed-up per epoch after the first: {per_epoch[False] / per_epoch[True]:.1f}x")


if __name__ == "__main__":
    main()
