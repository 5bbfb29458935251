"""`lag comfy run`: run a workflow headless on a ComfyUI server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("comfy", help="run workflows on a ComfyUI server through its API")
    csub = p.add_subparsers(dest="comfy_command", required=True)
    r = csub.add_parser("run", help="submit a workflow (API or UI format), follow it, download its images")
    r.add_argument("workflow", help="workflow .json (API format, or UI format converted with the server's /object_info)")
    r.add_argument("--server", default="http://127.0.0.1:8188")
    r.add_argument("--set", action="append", default=[], metavar="NODE_ID.input=value", help="override an input (repeatable)")
    r.add_argument("--out", default="output", metavar="DIR", help="where to save the output images")
    r.add_argument("--timeout", type=float, default=3600.0, help="seconds before the run is interrupted")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run)


def run(args) -> int:
    from ..comfy.client import ComfyClient
    from .progress import TqdmCallback

    path = Path(args.workflow)
    if not path.is_file():
        raise InputError(f"workflow '{path}' does not exist")
    try:
        workflow = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"workflow '{path}' is not JSON ({exc.msg} at line {exc.lineno})") from None
    bar = TqdmCallback("comfy")
    try:
        result = ComfyClient(args.server).run(workflow, args.out, args.set, progress=bar, timeout=args.timeout)
    finally:
        bar.close()
    summary = {"prompt_id": result.prompt_id, "files": [str(f) for f in result.files], "seconds": round(result.seconds, 3)}
    sys.stdout.write((json.dumps(summary) if args.json else "\n".join(["wrote " + f for f in summary["files"]] or ["no images"])) + "\n")
    return 0
