"""`lag generate`: VQGAN-CLIP from text and image prompts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="make an image with VQGAN-CLIP from text and image prompts")
    p.add_argument("--prompt", action="append", default=[], metavar="TEXT[:WEIGHT]",
                   help="text prompt; a negative weight pushes away (repeatable)")
    p.add_argument("--image-prompt", action="append", default=[], metavar="FILE[:WEIGHT]",
                   help="image prompt file, optional weight after a colon (repeatable)")
    p.add_argument("--attention", metavar="FILE", help="lyric attention weights from `lag train` (default with a song: the preset's)")
    p.add_argument("--entry", metavar="DATASET:INDEX", help="the song: an entry of a dataset (e.g. sample:3)")
    p.add_argument("--lyrics", help="the song's lyrics (instead of --entry)")
    p.add_argument("--genre", help="the song's genre (metal, pop, rnb, rap); with --entry, overrides it")
    p.add_argument("--no-genre", action="store_true", help="leave the genre out of the query (audio carries it)")
    p.add_argument("--audio", metavar="FILE", help="the song's audio file (WAV/FLAC/OGG/MP3), instead of the entry's MFCC")
    p.add_argument("--cond-weight", type=float, default=1.0, help="weight of the song conditioning among the targets")
    p.add_argument("--init-image", metavar="FILE", help="start from this image instead of random codes")
    p.add_argument("--init", choices=["random", "grey", "noise", "image"], help="initialisation (default: image if --init-image, else random)")
    p.add_argument("--init-weight", type=float, default=0.0, help="pull towards the initial latent (MSE weight)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=[64, 64], help="output size in pixels (toyworld: 64 64)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--cutn", type=int, default=32)
    p.add_argument("--cut-pow", type=float, default=1.0)
    p.add_argument("--no-augment", action="store_true", help="plain crops without flips, affine, jitter or noise")
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of the latent for the output (0 = off)")
    p.add_argument("--save-every", type=int, default=0, metavar="K", help="write a frame every K steps")
    p.add_argument("--frames-dir", metavar="DIR", help="folder for frames (needs --save-every)")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels: byte-identical output for the same inputs on CPU")
    p.add_argument("--vqgan", metavar="FILE", help="VQGAN weights: taming .ckpt (model.yaml beside it), .safetensors, or a name in weights/vqgan")
    p.add_argument("--clip", metavar="NAME_OR_FILE", help="CLIP: ARCH:TAG, ARCH:FILE, a folder, a file from `lag convert-weights`, or a preset")
    p.add_argument("--download", action="store_true", help="allow downloading CLIP weights for ARCH:TAG (needs internet)")
    p.add_argument("--preset", default=None, help="embedded models instead of --vqgan/--clip: toyworld (default) or tiny")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    p.set_defaults(func=run)


def _split_weight(spec: str) -> tuple[str, float]:
    head, sep, tail = spec.rpartition(":")
    if sep and head and not Path(spec).exists():
        try:
            return head, float(tail)
        except ValueError:
            raise InputError(f"image prompt weight must be a number, found '{tail}' in '{spec}'") from None
    return spec, 1.0


def load_models(args, device):
    """Models from --preset or --vqgan/--clip (shared by the commands that generate)."""
    from ..clip_models import load_clip
    from ..paths import find_weights
    from ..presets import load_preset
    from ..vqgan import load_vqgan

    if args.vqgan or args.clip:
        if not (args.vqgan and args.clip):
            raise InputError("give both --vqgan and --clip, or neither (and a --preset)")
        vqgan = load_vqgan(find_weights(args.vqgan, "vqgan"), device=device)
        clip = load_clip(args.clip, device=device, allow_download=args.download)
        return vqgan, clip
    from ..presets import DEFAULT_PRESET

    return load_preset(args.preset or DEFAULT_PRESET, device=device)


def song_targets(args, clip, device):
    """The conditioning of one song through trained lyric attention, as a weighted target."""
    from ..attention.condition import condition_song, load_attention
    from ..audio.io import audio_to_mfcc, load_audio
    from ..paths import find_weights
    from ..presets import DEFAULT_PRESET, preset_attention
    from ..prompts import Targets
    from .train import parse_entry

    path = find_weights(args.attention, "attention") if args.attention else preset_attention(args.preset or DEFAULT_PRESET)
    loaded = load_attention(path, clip, device=device)
    lyrics, genre, mfcc = args.lyrics, args.genre, None
    if args.entry:
        ds, i = parse_entry(args.entry)
        entry = ds.entries[i]
        lyrics = lyrics or entry.lyrics
        genre = genre or entry.genre
        mfcc = ds.mfcc[i]
    if not lyrics:
        raise InputError("a song needs lyrics: give --entry DATASET:INDEX or --lyrics TEXT")
    if args.audio:
        mfcc = audio_to_mfcc(load_audio(args.audio))[0]
    if loaded.audio_encoder is None:
        mfcc = None
    song = condition_song(loaded, clip, lyrics, None if args.no_genre else genre, mfcc)
    return Targets.from_embeddings(song.embeds, args.cond_weight, label=f"song:{lyrics[:40]}")


def run(args: argparse.Namespace) -> int:
    from ..cutouts import AugmentConfig
    from ..device import resolve_device
    from ..imageio import load_image, save_png
    from ..prompts import Targets, image_targets, text_targets
    from ..sampler import SamplerConfig, sample_vqgan_clip
    from .progress import TqdmCallback

    song = bool(args.entry or args.lyrics or args.attention)
    if not args.prompt and not args.image_prompt and not song:
        raise InputError("the prompt list is empty; give at least one --prompt 'text[:weight]', --image-prompt FILE, "
                         "or a song with --entry DATASET:INDEX (or --lyrics TEXT --genre G)")
    if song and not args.attention and (args.vqgan or args.clip):
        raise InputError("with --vqgan/--clip, a song needs --attention FILE trained for that CLIP (`lag train --clip ...`)")
    if args.save_every and not args.frames_dir:
        raise InputError("--save-every needs --frames-dir DIR to write the frames to")
    init = args.init or ("image" if args.init_image else "random")
    cfg = SamplerConfig(
        width=args.size[0], height=args.size[1], steps=args.steps, lr=args.lr, optimizer=args.optimizer,
        seed=args.seed, init=init, init_weight=args.init_weight, cutn=args.cutn, cut_pow=args.cut_pow,
        augment=AugmentConfig(enabled=not args.no_augment), ema=args.ema, save_every=args.save_every,
        keep_frames=False,  # frames stream to --frames-dir: none are held in memory
        deterministic=args.deterministic, precision=args.precision,
    )
    # Check everything that needs no model before loading any.
    if cfg.steps <= 0:
        cfg.validate(1)
    image_specs = [_split_weight(s) for s in args.image_prompt]
    prompt_images = [load_image(path) for path, _ in image_specs]
    init_image = load_image(args.init_image)[None] if args.init_image else None
    device = resolve_device(args.device)
    vqgan, clip = load_models(args, device)
    cfg.validate(vqgan.downsample_factor)
    parts = []
    if args.prompt:
        parts.append(text_targets(clip, args.prompt))
    if prompt_images:
        parts.append(image_targets(clip, prompt_images, [w for _, w in image_specs], [p for p, _ in image_specs]))
    if song:
        parts.append(song_targets(args, clip, device))
    targets = Targets.cat(parts)

    frames_dir = Path(args.frames_dir) if args.frames_dir else None
    bar = TqdmCallback("generate", enabled=None)
    written: list[Path] = []

    def callback(step, total, info):
        bar(step, total, info)
        if frames_dir is not None and "frame" in info:
            written.append(save_png(info["frame"], frames_dir / f"frame_{step:05d}.png"))

    try:
        result = sample_vqgan_clip(vqgan, clip, targets, cfg, init_image=init_image, callback=callback)
    finally:
        bar.close()
    out = save_png(result.image, args.out)
    summary = {
        "out": str(out),
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "it_per_s": round(result.steps / result.seconds, 3),
        "loss_first": result.losses[0],
        "loss_last": result.losses[-1],
        "size": [cfg.width, cfg.height],
        "seed": cfg.seed,
        "device": str(device),
        "frames": len(written),
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        sys.stdout.write(f"wrote {out} ({result.steps} steps, {summary['it_per_s']} it/s, loss {summary['loss_first']:.4f} -> {summary['loss_last']:.4f})\n")
    return 0
