"""`lag convert-weights`: any supported weight file -> safetensors that carries its own config."""

from __future__ import annotations

import json

import torch

from ..errors import InputError
from .output import emit


def add_parser(sub) -> None:
    p = sub.add_parser("convert-weights", help="convert a VQGAN (taming .ckpt) or CLIP weight file to safetensors")
    p.add_argument("src", help="input weight file")
    p.add_argument("dst", help="output .safetensors file")
    p.add_argument("--kind", choices=["vqgan", "clip"], default="vqgan")
    p.add_argument("--clip-arch", help="open_clip architecture of a CLIP file (e.g. ViT-B-32-quickgelu)")
    p.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    if not args.dst.endswith(".safetensors"):
        raise InputError(f"output must be a .safetensors file, found '{args.dst}'")
    from ..safeload import check_output

    check_output(args.dst, "output")
    dtype = torch.float16 if args.fp16 else torch.float32
    if args.kind == "vqgan":
        from ..vqgan import convert_vqgan

        cfg = convert_vqgan(args.src, args.dst, dtype=dtype)
        info = {"out": args.dst, "kind": "vqgan", "config": json.loads(cfg.to_json())}
    else:
        from ..clip_models import save_clip
        from ..models import make_clip

        spec = f"{args.clip_arch}:{args.src}" if args.clip_arch else args.src
        clip = make_clip(spec)
        save_clip(clip, args.dst, dtype=dtype)
        info = {"out": args.dst, "kind": "clip", "model_id": clip.model_id}
    return emit(args, info, f"wrote {args.dst}")
