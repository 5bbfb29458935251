"""tqdm progress for core callbacks (STYLE habit 2): the CLI side of `callback(step, total, info)`."""

from __future__ import annotations

import sys


class TqdmCallback:
    """Shows a bar on a terminal (stderr), stays silent otherwise."""

    def __init__(self, desc: str, enabled: bool | None = None, unit: str = "step"):
        from tqdm import tqdm

        self.bar = None
        self._tqdm = tqdm
        self.desc = desc
        self.unit = unit
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def __call__(self, step: int, total: int, info: dict) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = self._tqdm(total=total, desc=self.desc, unit=self.unit, dynamic_ncols=True)
        self.bar.update(step - self.bar.n)
        if "loss" in info:
            self.bar.set_postfix(loss=f"{info['loss']:.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> TqdmCallback:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
