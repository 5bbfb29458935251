"""`lag train` and `lag attention-map`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..options import ATTENTION_KEYS, ATTENTION_KINDS, DEFAULT_PRESET, PRESETS, TrainConfig
from .output import emit


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train lyric attention (and the audio encoder) with the genre-weighted CLIP loss")
    p.add_argument("--dataset", default="sample", help="dataset folder, LAG .pkl, or 'sample' (bundled)")
    p.add_argument("--attention", choices=ATTENTION_KINDS, default=TrainConfig.kind)
    p.add_argument("--genre-weight", type=float, default=TrainConfig.genre_weight, help="weight of the genre targets (the lyric text gets 1 - this)")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--val-fraction", type=float, default=TrainConfig.val_fraction)
    p.add_argument("--no-audio", action="store_true", help="train without the audio encoder")
    p.add_argument("--genre-dropout", type=float, default=TrainConfig.genre_dropout, help="share of entries trained without the genre in the query")
    p.add_argument("--audio-only-genre-weight", type=float, default=None,
                   help="the genre's share of the target for the entries trained without their genre (the sound alone); "
                        "default --genre-weight, or with --resume the saved run's")
    p.add_argument("--audio-mismatch", type=float, default=None,
                   help=f"share of the entries with a genre that hear a random training entry's audio, so a given genre "
                        f"wins over the sound; default {TrainConfig.audio_mismatch}, or with --resume the saved run's")
    p.add_argument("--genre-template", default=TrainConfig.genre_template)
    p.add_argument("--genre-prompt", action="append", default=[], metavar="GENRE=PROMPT", help="override one genre's prompt")
    p.add_argument("--image-dir", help="reference images per genre: DIR/<genre>/*.png")
    p.add_argument("--keys", choices=ATTENTION_KEYS, default=None,
                   help=f"what the attention attends over: each word on its own (words), CLIP's tokens in context with "
                        f"its end-of-text token (tokens) or without it (content); default {TrainConfig.keys}, "
                        "or with --resume the saved run's")
    p.add_argument("--clip", metavar="NAME_OR_FILE", help="CLIP spec (see `lag generate --help`)")
    p.add_argument("--download", action="store_true")
    p.add_argument("--preset", default=None, choices=PRESETS, help="embedded CLIP instead of --clip (default: toyworld)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, metavar="FILE.safetensors")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--release", action="store_true", help="at the end, drop the optimizer state (smaller file, cannot be resumed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_train)

    m = sub.add_parser("attention-map", help="draw the attention over a lyric's words (or tokens) as a heatmap")
    m.add_argument("--weights", required=True, help="attention file from `lag train`")
    m.add_argument("--entry", required=True, metavar="DATASET:INDEX", help="e.g. sample:3 or path/to/dataset:out_Song_0_1")
    m.add_argument("--no-genre", action="store_true", help="query with the audio only")
    m.add_argument("--clip", metavar="NAME_OR_FILE")
    m.add_argument("--preset", default=None, choices=PRESETS)
    m.add_argument("--out", required=True, metavar="map.png")
    m.set_defaults(func=run_map)


def _clip(args):
    from ..device import resolve_device
    from ..models import make_clip

    device = resolve_device(getattr(args, "device", "cpu"))
    return make_clip(args.clip or args.preset or DEFAULT_PRESET, device=device, allow_download=getattr(args, "download", False))


def run_train(args) -> int:
    from ..attention.checkpoint import saved_train_config, strip_for_release
    from ..attention.train import curves_path, init_distributed_from_env, train_attention
    from ..data.dataset import open_dataset
    from ..safeload import check_output
    from ..viz import plot_training_curves
    from .progress import TqdmCallback

    prompts = {}
    for item in args.genre_prompt:
        genre, sep, prompt = item.partition("=")
        if not sep or not prompt.strip():
            raise InputError(f"--genre-prompt must be GENRE=PROMPT, found '{item}'")
        prompts[genre.strip().lower()] = prompt.strip()
    resuming = args.resume and Path(args.out).is_file() and \
        (args.keys is None or args.audio_mismatch is None or args.audio_only_genre_weight is None)
    saved = saved_train_config(args.out) if resuming else {}
    keys = args.keys if args.keys is not None else str(saved.get("keys", TrainConfig.keys))
    mismatch = args.audio_mismatch if args.audio_mismatch is not None else float(saved.get("audio_mismatch", TrainConfig.audio_mismatch))
    audio_only = args.audio_only_genre_weight if args.audio_only_genre_weight is not None else saved.get("audio_only_genre_weight")
    cfg = TrainConfig(kind=args.attention, genre_weight=args.genre_weight, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, val_fraction=args.val_fraction, use_audio=not args.no_audio,
                      genre_dropout=args.genre_dropout, audio_mismatch=mismatch, audio_only_genre_weight=audio_only,
                      genre_template=args.genre_template, genre_prompts=prompts,
                      image_dir=args.image_dir, keys=keys)
    cfg.validate()
    if not args.out.endswith(".safetensors"):
        raise InputError(f"--out must be a .safetensors file, found '{args.out}'")
    if Path(args.out).exists() and not args.resume:
        raise InputError(f"'{args.out}' exists; pass --resume to continue that run, or choose a new --out")
    check_output(args.out, "--out")
    distributed = init_distributed_from_env()
    import torch.distributed as dist

    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    ds = open_dataset(args.dataset)
    clip = _clip(args)
    bar = TqdmCallback("train", enabled=None if rank == 0 else False)
    try:
        result = train_attention(ds, clip, cfg, args.out, resume=args.resume,
                                 callback=bar)
    finally:
        bar.close()
        if distributed:
            dist.destroy_process_group()
    if rank != 0:
        return 0
    if args.release:
        strip_for_release(args.out)
    curves = curves_path(args.out)
    plot_training_curves(result.history, curves)
    last = result.history[-1]
    summary = {"out": args.out, "curves": str(curves), "epochs": last["epoch"], "seconds": round(result.seconds, 3),
               "text_features_from_cache": result.from_cache, "world_size": world,
               **{k: v for k, v in last.items() if k != "epoch"}}
    return emit(args, summary, f"wrote {args.out} (epoch {last['epoch']}: val loss {last['val_loss']:.4f}, "
                               f"genre acc {last['val_acc']:.2f}) and {summary['curves']}")


def run_map(args) -> int:
    from ..data.dataset import open_entry
    from ..models import make_attention
    from ..song import song_from_entry, song_targets
    from ..viz import attention_heatmap

    clip = _clip(args)
    loaded = make_attention(args.weights, clip)
    ds, i = open_entry(args.entry)
    song = song_from_entry(ds, i)
    if args.no_genre:
        song.genre = None
    st = song_targets(song, loaded, clip)
    e = ds.entries[i]
    attention_heatmap(st.tokens, st.weights, f"{e.file_name} ({e.genre}, {st.kind})", args.out)
    sys.stdout.write(f"wrote {args.out}\n")
    return 0
