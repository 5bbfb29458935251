"""`lag comfy run`: run a workflow headless on a ComfyUI server."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("comfy", help="run workflows on a ComfyUI server through its API")
    csub = p.add_subparsers(dest="comfy_command", required=True)
    r = csub.add_parser("run", help="submit a workflow (API or UI format), follow it, download its images")
    r.add_argument("workflow", help="workflow .json (API format, or UI format converted with the server's /object_info)")
    r.add_argument("--server", default="http://127.0.0.1:8188", help="the server's address (http:// is assumed when missing)")
    r.add_argument("--set", action="append", default=[], metavar="NODE_ID.input=value", help="override an input (repeatable)")
    r.add_argument("--out", default="output", metavar="DIR",
                   help="where to save the output images (an existing file is never replaced: the new one gets a free name)")
    r.add_argument("--timeout", type=float, default=3600.0,
                   help="seconds before our prompt is cancelled (deleted from the queue, or interrupted if it runs)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run)


def run(args) -> int:
    from ..comfy.client import ComfyClient, RunCancelled
    from .progress import TqdmCallback

    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise InputError(f"--timeout must be a positive number of seconds, found {args.timeout}")
    path = Path(args.workflow)
    if not path.is_file():
        raise InputError(f"workflow '{path}' does not exist")
    try:
        workflow = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"workflow '{path}' is not UTF-8 text; expected a ComfyUI workflow .json") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"workflow '{path}' is not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InputError(f"workflow '{path}' nests too deeply to be a ComfyUI workflow") from None
    if not isinstance(workflow, dict):
        raise InputError(f"workflow '{path}' holds a JSON {type(workflow).__name__}; expected an object (a UI or API workflow)")
    client = ComfyClient(args.server)
    bar = TqdmCallback("comfy")
    try:
        result = client.run(workflow, args.out, args.set, progress=bar, timeout=args.timeout)
    except RunCancelled as exc:
        if exc.reason != "ctrl-c":
            raise
        bar.close()
        sys.stderr.write(f"lag comfy run: interrupted: {exc}\n")
        return 130
    finally:
        bar.close()
    for name, where in result.renamed:
        sys.stderr.write(f"lag comfy run: note: a file named '{Path(name).name}' was already in {where.parent}; wrote {where.name} beside it\n")
    summary = {"prompt_id": result.prompt_id, "files": [str(f) for f in result.files], "seconds": round(result.seconds, 3)}
    sys.stdout.write((json.dumps(summary) if args.json else "\n".join(["wrote " + f for f in summary["files"]] or ["no images"])) + "\n")
    return 0
