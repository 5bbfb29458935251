"""`lag eval fidelity`: the product's own quality number."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="benchmarks of what the pictures carry")
    esub = p.add_subparsers(dest="eval_command", required=True)
    f = esub.add_parser("fidelity", help="genre accuracy of generated images, judged by the pixel judge")
    f.add_argument("--preset", default="toyworld")
    f.add_argument("--attention", default=None, help="attention weights (default: the preset's)")
    f.add_argument("--dataset", default="sample")
    f.add_argument("--steps", type=int, default=50)
    f.add_argument("--seeds", type=int, nargs="+", default=[0])
    f.add_argument("--conditions", default="abcd")
    f.add_argument("--init", default="random", choices=["random", "grey", "noise"], help="the sampler's start")
    f.add_argument("--limit", type=int, default=0, help="only the first N entries (0 = all)")
    f.add_argument("--out", required=True, metavar="DIR")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_fidelity_cmd)


def run_fidelity_cmd(args) -> int:
    from ..attention.condition import load_attention
    from ..data.dataset import LAGDataset, open_dataset
    from ..presets import load_preset, preset_attention
    from ..toyworld.fidelity import fidelity_grid, run_fidelity
    from .progress import TqdmCallback

    vqgan, clip = load_preset(args.preset)
    loaded = load_attention(args.attention or preset_attention(args.preset, "mha"), clip)
    ds = open_dataset(None if args.dataset == "sample" else args.dataset)
    if args.limit:
        ds = LAGDataset(ds.root, ds.entries[: args.limit], ds.mfcc[: args.limit])
    bar = TqdmCallback("fidelity")
    try:
        result = run_fidelity(vqgan, clip, loaded, ds, steps=args.steps, seeds=tuple(args.seeds),
                              conditions=args.conditions, init=args.init, callback=bar)
    finally:
        bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fidelity_grid(result, ds, out / "fidelity_grid.png")
    summary = {**result.summary(), "grid": str(out / "fidelity_grid.png"), "rows": result.rows}
    (out / "fidelity.json").write_text(json.dumps(summary, indent=2))
    sys.stdout.write((json.dumps(result.summary()) if args.json else result.table()) + "\n")
    return 0
