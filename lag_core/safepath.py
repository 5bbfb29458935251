"""Names that arrive from outside open files only inside the folder they were listed from.

A name from a ComfyUI prompt (any client can send one, and ComfyUI skips its own list check for
inputs a node validates itself), a row of a lyrics CSV or the `audio` field of a dataset's
`entries.jsonl` is untrusted. `resolve_inside` joins it to each allowed folder, resolves symlinks
and `..`, and accepts it only when the result is still inside that folder. Anything else gets one
line that names only the allowed folders: nothing about the rest of the disk (whether a path
exists there, what it holds) leaks through the message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when `path`, with symlinks and `..` resolved, is `folder` or below it."""
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a name the OS refuses
        return False


def shown(value, limit: int = 80) -> str:
    """A value from outside, quoted for a one-line message: control characters and escape codes
    become `?`, long values are cut."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _candidates(name: str, folders: Iterable[Path]):
    for folder in folders:
        base = Path(folder)
        try:
            candidate = (base / name).resolve()
            inside = candidate.is_relative_to(base.resolve())
        except (OSError, RuntimeError, ValueError):
            continue
        if inside:
            yield candidate


def _exists(candidate: Path, kind: str) -> bool:
    try:
        return {"file": candidate.is_file, "dir": candidate.is_dir, "any": candidate.exists}[kind]()
    except (OSError, ValueError):  # a name too long, a folder we may not read: not there for us
        return False


def resolve_inside(name: str, folders: Iterable[str | os.PathLike], what: str, *, kind: str = "file",
                   suffixes: Iterable[str] | None = None, where: str | None = None) -> Path:
    """The file (or folder, `kind="dir"`; either, `kind="any"`) that `name` names inside one of
    `folders`, after resolving symlinks. `name` must be a relative path without `..` parts (so that
    nothing outside the folders is even looked at); with `suffixes`, its suffix must be one of them.
    `where` describes the folders in the message (default: their paths)."""
    folders = [Path(f) for f in folders]
    place = where or " or ".join(f"{f}/" for f in folders) or "its folder"
    refusal = f"{what} '{shown(name)}' is not a {'folder' if kind == 'dir' else 'file'} in {place}; pick one from the list"
    if not isinstance(name, str):
        raise InputError(f"{what} must be a file name, found {type(name).__name__}; pick one from the list")
    parts = name.replace("\\", "/").split("/")
    if (not name.strip() or len(name) > 1024 or any(len(p) > 255 for p in parts) or ".." in parts
            or not name.isprintable() or Path(name).is_absolute() or name.startswith(("~", "\\")) or ":" in name[:2]):
        raise InputError(refusal)
    if suffixes is not None and kind == "file" and Path(name).suffix.lower() not in {s.lower() for s in suffixes}:
        raise InputError(f"{what} '{shown(name)}' must end in {', '.join(sorted(suffixes))}; pick one from the list")
    for candidate in _candidates(name, folders):
        if _exists(candidate, kind):
            return candidate
    raise InputError(refusal)
