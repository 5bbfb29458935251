"""`lag eval fidelity`: the product's own quality number."""

from __future__ import annotations

from ..options import DEFAULT_PRESET, FIDELITY_LR, PRESETS
from .generate import add_restarts_option
from .output import emit


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="benchmarks of what the pictures carry")
    esub = p.add_subparsers(dest="eval_command", required=True)
    f = esub.add_parser("fidelity", help="genre and motif accuracy of generated images, judged by the pixel judge")
    f.add_argument("--preset", default=DEFAULT_PRESET, choices=PRESETS)
    f.add_argument("--attention", default=None, help="attention weights (default: the preset's)")
    f.add_argument("--dataset", default="heldout", help="a LAG dataset (default: the bundled held-out set)")
    f.add_argument("--steps", type=int, default=30)
    f.add_argument("--cutn", type=int, default=8, help="cutouts per step")
    f.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    f.add_argument("--conditions", default="abcde")
    f.add_argument("--init", default="random", choices=["random", "grey", "noise"], help="the sampler's start")
    add_restarts_option(f)
    f.add_argument("--lr", type=float, default=FIDELITY_LR, help="the sampler's learning rate")
    f.add_argument("--limit", type=int, default=0, help="only the first N entries (0 = all)")
    f.add_argument("--out", required=True, metavar="DIR")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_fidelity_cmd)


def run_fidelity_cmd(args) -> int:
    from ..errors import InputError
    from ..toyworld.fidelity import CONDITIONS, fidelity_report

    if not args.conditions or set(args.conditions) - set(CONDITIONS):
        raise InputError(f"--conditions takes letters of {''.join(CONDITIONS)}, found '{args.conditions}'")
    from .progress import TqdmCallback

    bar = TqdmCallback("fidelity")
    try:
        result = fidelity_report(args.out, args.preset, args.attention, args.dataset, args.limit, callback=bar,
                                 steps=args.steps, seeds=tuple(args.seeds), conditions=args.conditions, init=args.init,
                                 cutn=args.cutn, restarts=args.restarts, lr=args.lr)
    finally:
        bar.close()
    return emit(args, result.summary(), result.table())
