"""Memory estimates, checked before anything large is allocated (a model's parameters, a run's
kept frames), so that an absurd request is one line instead of a machine that swaps or dies."""

from __future__ import annotations

import os


def physical_memory_bytes() -> int:
    """This machine's RAM (the cgroup's limit when that is lower); 64 GiB when it cannot be read."""
    total = 64 * 2**30
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(limit_file).read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def check_model_fits(shapes, file_bytes: int, source, what: str) -> None:
    """One line unless a model of these parameter `shapes` (float32), plus the file's tensors while
    loading, fits this machine's memory: checked before anything real is allocated."""
    import math

    from .errors import WeightsError

    params = sum(math.prod(shape) for shape in shapes)
    need, have = params * 4 + file_bytes, physical_memory_bytes()
    if need > have:
        raise WeightsError(
            f"'{source}' is a {what} of {params / 1e9:.2f} billion parameters: loading it needs about {format_bytes(need)} "
            f"(float32, with the file's tensors), more than this machine's {format_bytes(have)}; use a smaller {what}"
        )


def format_bytes(n: float) -> str:
    """`1536` -> `1.5 KiB`; the unit that keeps the number under 1024."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"
