"""`lag generate`: VQGAN-CLIP from text and image prompts."""

from __future__ import annotations

import argparse

from ..options import INIT_MODES, OPTIMIZERS, PRECISIONS, PRESETS, AugmentConfig, SamplerConfig
from .output import emit


def add_restarts_option(p, what: str = "random starts to try") -> None:
    p.add_argument("--restarts", type=int, default=SamplerConfig.restarts,
                   help=f"{what}; the one CLIP scores best after a fifth of the steps goes on (1: one start)")


def add_model_options(p) -> None:
    """The models and where they run: shared by `lag generate` and `lag video`."""
    p.add_argument("--vqgan", metavar="FILE", help="VQGAN: a preset, a taming .ckpt (model.yaml beside it), a .safetensors, or a name in weights/vqgan")
    p.add_argument("--clip", metavar="NAME_OR_FILE", help="CLIP: a preset, a file from `lag convert-weights`, a folder, a name in weights/clip, ARCH:TAG or ARCH:FILE")
    p.add_argument("--download", action="store_true", help="allow downloading CLIP weights for ARCH:TAG (needs internet)")
    p.add_argument("--preset", default=None, choices=PRESETS, help="embedded models instead of --vqgan/--clip (default: toyworld)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", default=SamplerConfig.precision, choices=PRECISIONS)


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
    p.add_argument("--init", choices=INIT_MODES, help="initialisation (default: image if --init-image, else random)")
    add_restarts_option(p)
    p.add_argument("--init-weight", type=float, default=SamplerConfig.init_weight, help="pull towards the initial latent (MSE weight)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=[SamplerConfig.width, SamplerConfig.height],
                   help="output size in pixels (toyworld: 64 64)")
    p.add_argument("--steps", type=int, default=SamplerConfig.steps)
    p.add_argument("--seed", type=int, default=SamplerConfig.seed)
    p.add_argument("--optimizer", default=SamplerConfig.optimizer, help=", ".join(OPTIMIZERS))
    p.add_argument("--lr", type=float, default=SamplerConfig.lr)
    p.add_argument("--cutn", type=int, default=SamplerConfig.cutn)
    p.add_argument("--cut-pow", type=float, default=SamplerConfig.cut_pow)
    p.add_argument("--no-augment", action="store_true", help="plain crops without flips, affine, jitter or noise")
    p.add_argument("--ema", type=float, default=SamplerConfig.ema, help="EMA decay of the latent for the output (0 = off)")
    p.add_argument("--save-every", type=int, default=0, metavar="K", help="write a frame every K steps")
    p.add_argument("--frames-dir", metavar="DIR", help="folder for frames (needs --save-every)")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels: byte-identical output for the same inputs on CPU")
    add_model_options(p)
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..generate import GenerateJob, SongSpec, generate
    from .progress import TqdmCallback

    cfg = SamplerConfig(
        width=args.size[0], height=args.size[1], steps=args.steps, lr=args.lr, optimizer=args.optimizer,
        seed=args.seed, init=args.init or ("image" if args.init_image else "random"), init_weight=args.init_weight,
        restarts=args.restarts,
        cutn=args.cutn, cut_pow=args.cut_pow, augment=AugmentConfig(enabled=not args.no_augment), ema=args.ema,
        save_every=args.save_every, deterministic=args.deterministic, precision=args.precision,
    )
    song = None
    if args.entry or args.lyrics or args.attention:
        song = SongSpec(entry=args.entry, lyrics=args.lyrics, genre=args.genre, no_genre=args.no_genre, audio=args.audio,
                        attention=args.attention, weight=args.cond_weight)
    job = GenerateJob(out=args.out, sampler=cfg, prompts=args.prompt, image_prompts=args.image_prompt, song=song,
                      init_image=args.init_image, vqgan=args.vqgan, clip=args.clip, preset=args.preset,
                      download=args.download, device=args.device, frames_dir=args.frames_dir)
    with TqdmCallback("generate", enabled=None) as bar:
        summary = generate(job, callback=bar)
    return emit(args, summary, f"wrote {summary['out']} ({summary['steps']} steps, {summary['it_per_s']} it/s, "
                               f"loss {summary['loss_first']:.4f} -> {summary['loss_last']:.4f})")
