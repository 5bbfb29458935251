"""`lag data`: convert the LAG pickle, inspect datasets, build datasets from your own songs."""

from __future__ import annotations

import sys

from .output import emit


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="LAG datasets: convert, info, build")
    dsub = p.add_subparsers(dest="data_command", required=True)

    c = dsub.add_parser("convert", help="LAG .pkl -> a safe dataset folder (entries.jsonl + features.safetensors)")
    c.add_argument("pkl")
    c.add_argument("out_dir")
    c.add_argument("--layout", choices=["coef-major", "time-major"], default="coef-major",
                   help="how the flat 55168 mfcc is ordered: [128, 431] (default) or [431, 128]")
    c.add_argument("--force", action="store_true", help="replace OUT_DIR if it is a dataset folder made by lag")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_convert)

    i = dsub.add_parser("info", help="count, genres, mfcc shape, audio and problems of a .pkl or a folder")
    i.add_argument("path", nargs="?", default="sample", help="dataset folder, LAG .pkl, or 'sample' (bundled)")
    i.add_argument("--layout", choices=["coef-major", "time-major"], default="coef-major")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_info)

    b = dsub.add_parser("build", help="make a LAG-format dataset from your own audio files and lyrics")
    b.add_argument("audio_dir")
    b.add_argument("lyrics_csv", help="CSV with columns file, lyrics, genre and optional segment (10 s index)")
    b.add_argument("out_dir")
    b.add_argument("--no-audio", action="store_true", help="do not copy the 10 s segments into the dataset")
    b.add_argument("--force", action="store_true", help="replace OUT_DIR if it is a dataset folder made by lag")
    b.add_argument("--allow-outside", action="store_true", help="let CSV rows name audio files outside AUDIO_DIR")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=run_build)

    s = dsub.add_parser("build-sample", help="(maintainers) regenerate the bundled sample")
    s.add_argument("--out", default=None)
    s.set_defaults(func=run_build_sample)

    g = dsub.add_parser("build-song", help="(maintainers) regenerate the bundled song for `lag video` and its LRC")
    g.add_argument("--out", default=None, metavar="DIR")
    g.set_defaults(func=run_build_song)


def run_convert(args) -> int:
    from ..data.dataset import open_dataset, write_dataset

    ds = open_dataset(args.pkl, layout=args.layout)
    write_dataset(args.out_dir, ds.entries, ds.mfcc, force=args.force)
    for problem in ds.problems:
        sys.stderr.write(f"lag data convert: warning: {problem}\n")
    info = {"out": args.out_dir, "entries": len(ds), "genres": ds.genre_counts(), "problems": ds.problems}
    return emit(args, info, f"wrote {args.out_dir} ({len(ds)} entries, {len(ds.problems)} problems)")


def run_info(args) -> int:
    from ..data.dataset import describe, open_dataset

    ds = open_dataset(args.path, layout=args.layout)
    info = describe(ds)
    lines = [f"{args.path}: {info['entries']} entries, mfcc {info['mfcc_shape']}, audio for {info['audio']}",
             "genres: " + ", ".join(f"{g} {n}" for g, n in info["genres"].items())]
    lines += [f"problem: {p}" for p in info["problems"]] or ["no problems found"]
    return emit(args, info, "\n".join(lines))


def run_build(args) -> int:
    from ..data.build import build_dataset
    from .progress import TqdmCallback

    bar = TqdmCallback("build")
    try:
        info = build_dataset(args.audio_dir, args.lyrics_csv, args.out_dir, copy_audio=not args.no_audio, force=args.force,
                             allow_outside=args.allow_outside,
                             callback=bar)
    finally:
        bar.close()
    return emit(args, info, f"wrote {info['out']} ({info['entries']} entries)")


def run_build_sample(args) -> int:
    from ..data.sample import build_sample

    out = build_sample(args.out) if args.out else build_sample()
    sys.stdout.write(f"wrote {out}\n")
    return 0


def run_build_song(args) -> int:
    from ..data.demo_song import build_demo_song

    audio, lyrics = build_demo_song(args.out) if args.out else build_demo_song()
    sys.stdout.write(f"wrote {audio} and {lyrics}\n")
    return 0
