"""The fidelity benchmark: does the picture carry the song's genre and its words?

For every line of a LAG dataset (the bundled held-out set by default: lines and audio no model
trained on), generate with
  (a) the lyric line alone as a text prompt,
  (b) the genre prompt alone (the reference for genre),
  (c) trained lyric attention with the genre and the audio,
  (d) trained lyric attention with the audio but no genre label (the audio must carry it),
  (e) the untrained attention (its identity start, with the trained audio encoder), genre + audio,
then judge each image's genre (its background) and motif (its foreground colour) with the pixel
judge (no CLIP involved). A line's motif is the motif of its content word (`vocab.motif_of_line`).
It also counts how often the attention's highest-weighted token is that content word, for every
attention file given (multi-head and Bahdanau).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError
from ..options import DEFAULT_PRESET, FIDELITY_LR, GENRES
from ..prompts import text_targets
from ..sampler import SamplerConfig, sample_vqgan_clip
from .judge import judge_genre, judge_motif
from .vocab import MOTIF_NAMES, motif_of_line, motif_word_of_line

CONDITIONS = {
    "a": "lyrics as text prompt",
    "b": "genre prompt (reference)",
    "c": "attention: genre + audio",
    "d": "attention: audio, no genre",
    "e": "untrained attention (ablation)",
}
SCORES = ("genre", "motif", "both")


@dataclass
class FidelityResult:
    rows: list[dict] = field(default_factory=list)  # one per (entry, condition, seed)
    images: dict = field(default_factory=dict)  # (entry index, condition) -> [H, W, 3], first seed
    top_token: dict = field(default_factory=dict)  # attention kind -> share of lines whose top token is the motif word
    top_tokens: dict = field(default_factory=dict)  # attention kind -> [top token label per entry]
    seconds: float = 0.0
    seeds: list[int] = field(default_factory=list)
    init: str = "random"
    settings: dict = field(default_factory=dict)

    def accuracy(self, condition: str, score: str = "genre", genre: str | None = None) -> float:
        hits = [r[f"hit_{score}"] for r in self.rows
                if r["condition"] == condition and (genre is None or r["genre"] == genre)]
        return float(np.mean(hits)) if hits else float("nan")

    def table(self) -> str:
        head = f"{'condition':34s} {'genre':>6s} {'motif':>6s} {'both':>6s}"
        lines = [head, "-" * len(head)]
        for c, label in CONDITIONS.items():
            if not any(r["condition"] == c for r in self.rows):
                continue  # not run (--conditions)
            lines.append(f"({c}) {label:30s} " + " ".join(f"{self.accuracy(c, s):6.0%}" for s in SCORES))
        n_motifs = len(MOTIF_NAMES)
        lines.append(f"chance: genre {1 / len(GENRES):.0%}, motif {1 / n_motifs:.1%}, both {1 / len(GENRES) / n_motifs:.1%}")
        for kind, rate in self.top_token.items():
            lines.append(f"top token = motif word ({kind}): {rate:.0%}")
        lines.append(f"{len({r['entry'] for r in self.rows})} lines, seeds {self.seeds}, {self.init} start, "
                     f"{self.settings.get('steps')} steps, {self.settings.get('cutn')} cutouts, "
                     f"{self.settings.get('restarts', 1)} start(s), lr {self.settings.get('lr')}, {self.seconds:.0f} s")
        return "\n".join(lines)

    def summary(self) -> dict:
        def num(x: float):
            return None if np.isnan(x) else x  # a condition that was not run: null, not NaN (strict JSON)

        return {"accuracy": {c: {s: num(self.accuracy(c, s)) for s in SCORES} for c in CONDITIONS},
                "per_genre": {c: {g: {s: num(self.accuracy(c, s, g)) for s in SCORES} for g in GENRES} for c in CONDITIONS},
                "top_token_is_motif_word": self.top_token, "seeds": self.seeds, "init": self.init,
                "seconds": round(self.seconds, 1), "n": len(self.rows), **self.settings}


def untrained_like(loaded):
    """The attention of `loaded` at its identity start (seeded), keeping its trained audio encoder."""
    from ..attention.checkpoint import LoadedAttention
    from ..attention.model import LyricAttention

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        attention = LyricAttention(loaded.cfg).eval()
    return LoadedAttention(attention, loaded.audio_encoder, [], "untrained")


def _is_motif_token(label: str, word: str) -> bool:
    label = label.strip().lower()
    return bool(label) and label in word and len(label) >= min(3, len(word))


def top_token_rate(loaded, clip, dataset) -> tuple[float, list[str]]:
    """Share of entries whose highest-weighted lyric token (genre + audio query) is (a piece of) the
    line's motif word; and the top token of each entry."""
    from ..song import song_from_entry, song_targets

    hits, tops = [], []
    for i, entry in enumerate(dataset.entries):
        out = song_targets(song_from_entry(dataset, i), loaded, clip)
        top = out.tokens[int(out.weights.argmax())]
        tops.append(top)
        word = motif_word_of_line(entry.lyrics)
        hits.append(word is not None and _is_motif_token(top, word))
    return float(np.mean(hits)), tops


def run_fidelity(vqgan, clip, loaded, dataset, steps: int = 30, seeds=(0, 1), size: int = 64, conditions="abcde",
                 init: str = "random", cutn: int = 8, restarts: int = SamplerConfig.restarts, lr: float = FIDELITY_LR,
                 extra_attention: dict | None = None, callback=None) -> FidelityResult:
    """`loaded`: the attention of conditions (c)-(e); `extra_attention`: kind -> more attention files
    whose top-token rate is reported too."""
    from ..song import song_from_entry, song_targets

    def config(seed: int) -> SamplerConfig:
        return SamplerConfig(width=size, height=size, steps=steps, seed=seed, cutn=cutn, lr=lr, init=init, restarts=restarts)

    seeds = list(seeds)
    if not seeds:
        raise InputError("the fidelity benchmark needs at least one seed, found none; pass e.g. seeds=(0, 1)")
    for seed in seeds:  # bad settings: one line before sampling, not after the first condition's pictures
        config(seed).validate()
    result = FidelityResult(seeds=seeds, init=init, settings={"steps": steps, "cutn": cutn, "size": size, "lr": lr,
                                                                    "restarts": config(seeds[0]).starts()})
    start = time.perf_counter()
    for kind, att in {loaded.cfg.kind: loaded, **(extra_attention or {})}.items():
        result.top_token[kind], result.top_tokens[kind] = top_token_rate(att, clip, dataset)
    untrained = untrained_like(loaded) if "e" in conditions else None
    total = len(dataset) * len(seeds) * len(conditions)
    done = 0
    for i, entry in enumerate(dataset.entries):
        motif = motif_of_line(entry.lyrics)
        for c in conditions:
            if c == "a":
                targets = text_targets(clip, [entry.lyrics])
            elif c == "b":
                targets = text_targets(clip, [loaded.cfg.prompt(entry.genre)])
            else:
                song = song_from_entry(dataset, i)
                song.genre = None if c == "d" else entry.genre
                targets = song_targets(song, untrained if c == "e" else loaded, clip).targets
            for seed in seeds:
                image = sample_vqgan_clip(vqgan, clip, targets, config(seed)).image
                pixels = image[0].numpy()
                genre, judged_motif = judge_genre(pixels), judge_motif(pixels)
                result.rows.append({"entry": i, "file_name": entry.file_name, "lyrics": entry.lyrics, "genre": entry.genre,
                                    "motif": motif, "condition": c, "seed": seed, "judged_genre": genre,
                                    "judged_motif": judged_motif, "hit_genre": genre == entry.genre,
                                    "hit_motif": judged_motif == motif,
                                    "hit_both": genre == entry.genre and judged_motif == motif})
                if seed == seeds[0]:
                    result.images[(i, c)] = image[0]
                done += 1
                if callback is not None:
                    callback(done, total, {})
    result.seconds = time.perf_counter() - start
    return result


def fidelity_grid(result: FidelityResult, dataset, path=None, scale: int = 2) -> torch.Tensor:
    """Rows: entries; columns: conditions (first seed). Under each image a bar: green when genre and
    motif are both judged right, amber when one is, red when neither."""
    from PIL import Image, ImageDraw

    from ..imageio import to_uint8
    from ..viz import font, save_picture

    conds = sorted({c for _, c in result.images})
    entries = sorted({i for i, _ in result.images})
    first = next(iter(result.images.values()))
    h, w = first.shape[0] * scale, first.shape[1] * scale
    label_w, pad, bar = 230, 4, 5
    canvas = Image.new("RGB", (label_w + len(conds) * (w + pad), 24 + len(entries) * (h + bar + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    fnt = font(11)
    for k, c in enumerate(conds):
        draw.text((label_w + k * (w + pad), 6), f"({c})", fill="black", font=fnt)
    rows = {(r["entry"], r["condition"]): r for r in result.rows if r["seed"] == result.seeds[0]}
    colours = {2: (40, 170, 60), 1: (235, 170, 30), 0: (210, 40, 40)}
    for row, i in enumerate(entries):
        y = 24 + row * (h + bar + pad)
        e = dataset.entries[i]
        draw.text((4, y + h // 2 - 6), f"{e.genre}: {e.lyrics[:30]}", fill="black", font=fnt)
        for k, c in enumerate(conds):
            x = label_w + k * (w + pad)
            tile = Image.fromarray(to_uint8(result.images[(i, c)])).resize((w, h), Image.NEAREST)
            canvas.paste(tile, (x, y))
            r = rows.get((i, c), {})
            draw.rectangle([x, y + h, x + w, y + h + bar - 1], fill=colours[int(r.get("hit_genre", 0)) + int(r.get("hit_motif", 0))])
    if path is not None:
        save_picture(canvas, path)
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255)[None]


def fidelity_report(out_dir, preset: str = DEFAULT_PRESET, attention: str | None = None, dataset: str = "heldout",
                    limit: int = 0, callback=None, **run_options) -> FidelityResult:
    """`lag eval fidelity`: run the benchmark on a preset's models and write `fidelity_grid.png`,
    `fidelity.json` and `fidelity.txt` (the table) into `out_dir`. `run_options` go to
    `run_fidelity` (steps, seeds, conditions, init, cutn, restarts, lr). The top-token rate is reported for the
    given (or the preset's multi-head) attention and, with the preset's attention, for Bahdanau too."""
    import json
    from pathlib import Path

    from ..data.dataset import LAGDataset, open_dataset
    from ..models import make_attention, make_preset
    from ..safeload import atomic_path

    vqgan, clip = make_preset(preset)
    loaded = make_attention(attention or preset, clip)
    extra = {}
    if attention is None:
        other = "bahdanau" if loaded.cfg.kind == "mha" else "mha"
        extra[other] = make_attention(preset, clip, attention_kind=other)
    ds = open_dataset(dataset)
    if limit:
        ds = LAGDataset(ds.root, ds.entries[:limit], ds.mfcc[:limit])
    result = run_fidelity(vqgan, clip, loaded, ds, extra_attention=extra, callback=callback, **run_options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fidelity_grid(result, ds, out / "fidelity_grid.png")
    with atomic_path(out / "fidelity.json") as tmp:
        tmp.write_text(json.dumps({**result.summary(), "grid": str(out / "fidelity_grid.png"), "top_tokens": result.top_tokens,
                                   "rows": result.rows}, indent=2))
    with atomic_path(out / "fidelity.txt") as tmp:
        tmp.write_text(result.table() + "\n")
    return result
