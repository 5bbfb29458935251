"""`lag toyworld`: train and check the toy world's CLIP and autoencoder."""

from __future__ import annotations

import json
import sys

import torch


def add_parser(sub) -> None:
    p = sub.add_parser("toyworld", help="train / check the embedded toy-world models")
    tsub = p.add_subparsers(dest="toy_command", required=True)
    for name, default_min in (("train-clip", 15.0), ("train-vqgan", 15.0)):
        t = tsub.add_parser(name, help=f"{name.split('-')[1]} on procedural renders (seeded)")
        t.add_argument("--out", required=True, metavar="FILE.safetensors")
        t.add_argument("--minutes", type=float, default=default_min, help="time budget")
        t.add_argument("--steps", type=int, default=None, help="stop after N steps instead of the time budget")
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
        t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
        if name == "train-clip":
            t.add_argument("--views", type=float, default=0.5,
                           help="share of each batch shown as the sampler's augmented cutouts (0..1)")
            t.add_argument("--init", default=None, metavar="FILE.safetensors",
                           help="continue training these toy-world CLIP weights (use another --seed for fresh renders)")
        if name == "train-vqgan":
            t.add_argument("--init", default=None, metavar="FILE.safetensors",
                           help="fine-tune these toy-world autoencoder weights instead of starting from scratch")
        t.set_defaults(func=run_train)
    r = tsub.add_parser("references", help="render reference images per genre (DIR/<genre>/*.png) for `lag train --image-dir`")
    r.add_argument("out", metavar="DIR")
    r.add_argument("--per-genre", type=int, default=16)
    r.add_argument("--seed", type=int, default=2_000_000)
    r.set_defaults(func=run_references)
    e = tsub.add_parser("eval", help="zero-shot accuracy of a CLIP and PSNR of an autoencoder on fresh renders")
    e.add_argument("--clip", default=None)
    e.add_argument("--vqgan", default=None)
    e.set_defaults(func=run_eval)


def run_train(args) -> int:
    from ..errors import InputError
    from ..toyworld.train import train_toy_clip, train_toy_vqgan
    from .progress import TqdmCallback

    if args.toy_command == "train-clip" and not 0 <= args.views <= 1:
        raise InputError(f"--views is the share of each batch shown as cutouts, in 0..1; found {args.views}")
    if args.threads:
        torch.set_num_threads(args.threads)
    bar = TqdmCallback(args.toy_command)
    fn = train_toy_clip if args.toy_command == "train-clip" else train_toy_vqgan
    try:
        extra = {"lr": args.lr} if args.lr is not None else {}
        if getattr(args, "init", None):
            extra["init"] = args.init
        if args.toy_command == "train-clip":
            extra["views"] = args.views
        info = fn(args.out, minutes=args.minutes, seed=args.seed, max_steps=args.steps, callback=bar, **extra)
    finally:
        bar.close()
    sys.stdout.write(json.dumps({"out": args.out, **info}) + "\n")
    return 0


def run_eval(args) -> int:
    from ..toyworld.train import eval_clip_zero_shot, eval_vqgan_psnr

    out = {}
    if args.clip:
        from ..models import make_clip

        out["clip_zero_shot"] = eval_clip_zero_shot(make_clip(args.clip))
    if args.vqgan:
        from ..models import make_vqgan

        out["vqgan_psnr_db"] = eval_vqgan_psnr(make_vqgan(args.vqgan))
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def run_references(args) -> int:
    from ..toyworld.render import write_references

    files = write_references(args.out, args.per_genre, args.seed)
    sys.stdout.write(json.dumps({"out": args.out, "images": len(files)}) + "\n")
    return 0
