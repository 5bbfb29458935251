"""The fidelity benchmark: does the picture carry the song's genre?

For every entry of a LAG dataset (the bundled sample by default), generate with
  (a) the lyric line alone as a text prompt,
  (b) the genre prompt alone (the reference),
  (c) trained lyric attention with the genre and the audio,
  (d) trained lyric attention with the audio but no genre label (the audio must carry it),
then judge each image's genre with the pixel judge (no CLIP involved) and count the hits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..options import DEFAULT_PRESET, GENRES
from ..prompts import text_targets
from ..sampler import SamplerConfig, sample_vqgan_clip
from .judge import judge_genre

CONDITIONS = {
    "a": "lyrics as text prompt",
    "b": "genre prompt (reference)",
    "c": "attention: genre + audio",
    "d": "attention: audio, no genre",
}


@dataclass
class FidelityResult:
    rows: list[dict] = field(default_factory=list)  # one per (entry, condition)
    images: dict = field(default_factory=dict)  # (entry index, condition) -> [H, W, 3]
    seconds: float = 0.0
    seeds: list[int] = field(default_factory=list)
    init: str = "random"

    def accuracy(self, condition: str, genre: str | None = None) -> float:
        hits = [r["hit"] for r in self.rows if r["condition"] == condition and (genre is None or r["genre"] == genre)]
        return float(np.mean(hits)) if hits else float("nan")

    def table(self) -> str:
        head = f"{'condition':32s} {'all':>6s} " + " ".join(f"{g:>6s}" for g in GENRES)
        lines = [head, "-" * len(head)]
        for c, label in CONDITIONS.items():
            if not any(r["condition"] == c for r in self.rows):
                continue  # not run (--conditions)
            cells = " ".join(f"{self.accuracy(c, g):6.0%}" for g in GENRES)
            lines.append(f"({c}) {label:28s} {self.accuracy(c):6.0%} {cells}")
        lines.append(f"chance 25%; {len({r['entry'] for r in self.rows})} entries, seeds {self.seeds}, "
                     f"{self.init} start, {self.seconds:.0f} s")
        return "\n".join(lines)

    def summary(self) -> dict:
        def num(x: float):
            return None if np.isnan(x) else x  # a condition that was not run: null, not NaN (strict JSON)

        return {"accuracy": {c: num(self.accuracy(c)) for c in CONDITIONS},
                "per_genre": {c: {g: num(self.accuracy(c, g)) for g in GENRES} for c in CONDITIONS},
                "seeds": self.seeds, "init": self.init, "seconds": round(self.seconds, 1), "n": len(self.rows)}


def run_fidelity(vqgan, clip, loaded, dataset, steps: int = 50, seeds=(0,), size: int = 64, conditions="abcd",
                 init: str = "random", callback=None) -> FidelityResult:
    from ..song import song_from_entry, song_targets

    result = FidelityResult(seeds=list(seeds), init=init)
    start = time.perf_counter()
    total = len(dataset) * len(seeds) * len(conditions)
    done = 0
    for i, entry in enumerate(dataset.entries):
        for seed in seeds:
            for c in conditions:
                if c == "a":
                    targets = text_targets(clip, [entry.lyrics])
                elif c == "b":
                    targets = text_targets(clip, [loaded.cfg.prompt(entry.genre)])
                else:
                    song = song_from_entry(dataset, i)
                    song.genre = entry.genre if c == "c" else None
                    targets = song_targets(song, loaded, clip).targets
                cfg = SamplerConfig(width=size, height=size, steps=steps, seed=seed, cutn=16, lr=0.15, init=init)
                image = sample_vqgan_clip(vqgan, clip, targets, cfg).image
                judged = judge_genre(image[0].numpy())
                result.rows.append({"entry": i, "file_name": entry.file_name, "genre": entry.genre, "condition": c,
                                    "seed": seed, "judged": judged, "hit": judged == entry.genre})
                if seed == seeds[0]:
                    result.images[(i, c)] = image[0]
                done += 1
                if callback is not None:
                    callback(done, total, {})
    result.seconds = time.perf_counter() - start
    return result


def fidelity_grid(result: FidelityResult, dataset, path=None, scale: int = 2) -> torch.Tensor:
    """Rows: entries; columns: conditions. A green or red bar under each image: judged right or wrong."""
    from PIL import Image, ImageDraw

    from ..imageio import to_uint8
    from ..viz import font, save_picture

    conds = sorted({c for _, c in result.images})
    entries = sorted({i for i, _ in result.images})
    first = next(iter(result.images.values()))
    h, w = first.shape[0] * scale, first.shape[1] * scale
    label_w, pad, bar = 180, 4, 5
    canvas = Image.new("RGB", (label_w + len(conds) * (w + pad), 24 + len(entries) * (h + bar + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    fnt = font(11)
    for k, c in enumerate(conds):
        draw.text((label_w + k * (w + pad), 6), f"({c})", fill="black", font=fnt)
    hits = {(r["entry"], r["condition"]): r["hit"] for r in result.rows if r["seed"] == result.seeds[0]}
    for row, i in enumerate(entries):
        y = 24 + row * (h + bar + pad)
        e = dataset.entries[i]
        draw.text((4, y + h // 2 - 6), f"{e.genre}: {e.lyrics[:24]}", fill="black", font=fnt)
        for k, c in enumerate(conds):
            x = label_w + k * (w + pad)
            tile = Image.fromarray(to_uint8(result.images[(i, c)])).resize((w, h), Image.NEAREST)
            canvas.paste(tile, (x, y))
            draw.rectangle([x, y + h, x + w, y + h + bar - 1], fill=(40, 170, 60) if hits.get((i, c)) else (210, 40, 40))
    if path is not None:
        save_picture(canvas, path)
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255)[None]


def fidelity_report(out_dir, preset: str = DEFAULT_PRESET, attention: str | None = None, dataset: str = "sample",
                    limit: int = 0, callback=None, **run_options) -> FidelityResult:
    """`lag eval fidelity`: run the benchmark on a preset's models and write `fidelity_grid.png` and
    `fidelity.json` into `out_dir`. `run_options` go to `run_fidelity` (steps, seeds, conditions, init)."""
    import json
    from pathlib import Path

    from ..data.dataset import LAGDataset, open_dataset
    from ..models import make_attention, make_preset
    from ..safeload import atomic_path

    vqgan, clip = make_preset(preset)
    loaded = make_attention(attention or preset, clip)
    ds = open_dataset(dataset)
    if limit:
        ds = LAGDataset(ds.root, ds.entries[:limit], ds.mfcc[:limit])
    result = run_fidelity(vqgan, clip, loaded, ds, callback=callback, **run_options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fidelity_grid(result, ds, out / "fidelity_grid.png")
    with atomic_path(out / "fidelity.json") as tmp:
        tmp.write_text(json.dumps({**result.summary(), "grid": str(out / "fidelity_grid.png"), "rows": result.rows}, indent=2))
    return result
