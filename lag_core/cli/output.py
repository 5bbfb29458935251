"""What a command prints at the end: one JSON object with `--json`, else a line for people."""

from __future__ import annotations

import json
import sys


def emit(args, info: dict, text: str) -> int:
    sys.stdout.write((json.dumps(info) if getattr(args, "json", False) else text) + "\n")
    return 0
