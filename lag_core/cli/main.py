"""Entry point of the `lag` command. Errors the user can fix print one line and exit 2."""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import LAGError


def build_parser() -> argparse.ArgumentParser:
    from . import comfy, convert, data, evaluate, generate, toyworld, train, video

    parser = argparse.ArgumentParser(prog="lag", description="Songs (lyrics, audio, genre) to images.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)
    generate.add_parser(sub)
    convert.add_parser(sub)
    data.add_parser(sub)
    train.add_parser(sub)
    comfy.add_parser(sub)
    toyworld.add_parser(sub)
    evaluate.add_parser(sub)
    video.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="lag: %(message)s")
    try:
        return args.func(args)
    except LAGError as exc:
        name = " ".join(filter(None, [args.command, getattr(args, "data_command", None), getattr(args, "comfy_command", None),
                                        getattr(args, "toy_command", None), getattr(args, "eval_command", None)]))
        sys.stderr.write(f"lag {name}: error: {exc}\n")
        return 2
    except OSError as exc:  # a place we may not write to after all (read-only mounts, /proc, a full disk)
        where = f" '{exc.filename}'" if exc.filename else ""
        sys.stderr.write(f"lag {args.command}: error: cannot read or write{where}: {exc.strerror or exc}; "
                         "choose another path (nothing half-written was left behind)\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"lag {args.command}: interrupted; nothing half-written was left behind\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
