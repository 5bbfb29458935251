"""The product's vocabulary and defaults, in one torch-free place.

Genres, optimizers, init modes, precisions, attention kinds, presets, and the configs whose field
defaults are the defaults the `lag` command and the ComfyUI nodes offer (`SamplerConfig.steps`
is the sampler's default step count everywhere). Importing this module imports nothing heavy, so
the nodes read it when ComfyUI lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import InputError

GENRES = ("metal", "pop", "rnb", "rap")  # genreIdx order of the LAG release: metal 0, pop 1, rnb 2, rap 3
OPTIMIZERS = ("adam", "adamw", "adagrad", "adamax", "sgd", "rmsprop", "radam", "nadam")
INIT_MODES = ("random", "grey", "noise", "image")  # random codes | flat mid grey | pixel noise | an init image
RESTART_INITS = ("random", "noise")  # the starts that differ by seed: the ones `restarts` chooses among
MAX_RESTARTS = 16
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTION_KINDS = ("mha", "bahdanau")
# What lyric attention attends over (its keys and values):
#   tokens:  CLIP's per-token features of the line, in context, plus its end-of-text token (which
#            pools the whole line). CLIP's text tower is causal: a token also carries the words before it.
#   content: the same without the end-of-text token.
#   words:   every word of the lyrics embedded on its own (CLIP's pooled embedding of that word), so a
#            key holds one word's meaning and the weights say which words the picture takes.
ATTENTION_KEYS = ("tokens", "content", "words")


def keys_from_end_token(data: dict) -> dict:
    """A saved attention or training config from before `keys` replaced `end_token`, with its keys:
    end_token true -> tokens, false -> content. Refuses an end_token that is not a bool, or keys that disagree."""
    if "end_token" not in data:
        return data
    data = dict(data)
    legacy = data.pop("end_token")
    if legacy not in (True, False):
        raise InputError(f"attention config end_token must be true or false, found {legacy!r}")
    implied = "tokens" if legacy else "content"
    if data.setdefault("keys", implied) != implied:
        raise InputError(f"attention config has end_token {legacy} and keys {data['keys']!r}, which disagree")
    return data
PRESETS = ("toyworld", "tiny")
DEFAULT_PRESET = "toyworld"
MODEL_KINDS = ("vqgan", "clip", "attention")
GENRE_TEMPLATE = "{genre} music album art"
FIDELITY_LR = 0.25  # the fidelity benchmark's sampler learning rate (`lag eval fidelity --lr`; docs/fidelity.md, eleventh round)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")  # what soundfile decodes without ffmpeg


MAX_SEED = 2**64 - 1  # what torch's generators take


def check_number(what: str, value, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False, integer: bool = False) -> None:
    """One line unless `value` is a finite number (an integer with `integer`) within [lo, hi]
    (open at an end with `lo_open` / `hi_open`)."""
    ok = isinstance(value, int) and not isinstance(value, bool) if integer else \
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        lo_text = "" if lo is None else f"{'(' if lo_open else '['}{lo:g}"
        hi_text = "" if hi is None else f"{hi:g}{')' if hi_open else ']'}"
        span = f" in {lo_text or '(-inf'}, {hi_text or 'inf)'}" if lo is not None or hi is not None else ""
        raise InputError(f"{what} must be a finite {'integer' if integer else 'number'}{span}, found {value!r}")


def check_template(template: str) -> None:
    """A genre template: text with exactly the field `{genre}` (braces doubled to be literal)."""
    import string

    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise InputError(f"genre template '{template}' is malformed ({exc}); write text with {{genre}} in it, "
                         "and {{ }} for literal braces") from None
    if not fields or any(f != ("genre", "", None) for f in fields):
        raise InputError(f"genre template must contain '{{genre}}' and no other field, found '{template}'")


def check_choice(what: str, value: str, choices) -> str:
    """`value` if it is one of `choices`, else one line naming them."""
    if value not in choices:
        raise InputError(f"unknown {what} '{value}'; expected one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentations applied to every cutout (set `enabled=False` for plain crops)."""

    enabled: bool = True
    flip: float = 0.5  # probability of a horizontal flip
    degrees: float = 15.0  # rotation range, +-
    translate: float = 0.1  # shift range as a fraction of the crop size, +-
    scale: float = 0.1  # zoom range, +-
    jitter: float = 0.1  # brightness / contrast / saturation range, +-
    noise: float = 0.1  # std of Gaussian noise is drawn from U(0, noise) per cutout


@dataclass
class SamplerConfig:
    """VQGAN-CLIP settings. The defaults suit the embedded toy world (64 px, 50 steps)."""

    width: int = 64
    height: int = 64
    steps: int = 50
    lr: float = 0.1
    optimizer: str = "adam"
    seed: int = 0
    init: str = "random"  # one of INIT_MODES
    init_weight: float = 0.0  # pull towards the initial latent (MSE), as in the original scripts
    # Random starts tried for `trial_steps()` steps each; the one CLIP scores best goes on (a cold run costs
    # `total_steps()`: 1.6x with 4 at 30 or 50 steps). From a random start a picture can stall on a wrong
    # colour; CLIP's score after a fifth of the steps tells which starts did (docs/fidelity.md, sixth round).
    restarts: int = 4
    cutn: int = 32
    cut_pow: float = 1.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    ema: float = 0.0  # EMA decay of the latent for the output (0 = off)
    save_every: int = 0  # a frame every N steps (0 = none), passed to the callback as info["frame"]
    keep_frames: bool = True  # also keep those frames in SampleResult.frames (False: stream them to the callback only)
    max_frame_bytes: int | None = None  # memory the kept frames may take (None: a quarter of this machine's)
    deterministic: bool = False
    precision: str = "auto"

    def validate(self, factor: int | None = None) -> None:
        """`factor`: the VQGAN's downsampling factor; None before the VQGAN is known (sizes only positive)."""
        for name in ("width", "height"):
            value = getattr(self, name)
            if value <= 0 and factor is None:
                raise InputError(f"{name} must be a positive number of pixels, found {value}; use e.g. 256")
            if factor is not None and (value <= 0 or value % factor):
                lo = max(factor, value // factor * factor)
                raise InputError(
                    f"{name} must be a positive multiple of the VQGAN's downsampling factor {factor}, found {value}; "
                    f"use {lo} or {lo + factor}"
                )
        if self.steps <= 0:
            raise InputError(f"steps must be at least 1, found {self.steps}")
        check_choice("optimizer", self.optimizer.lower(), OPTIMIZERS)
        check_choice("init", self.init, INIT_MODES)
        check_choice("precision", self.precision, PRECISIONS)
        check_number("learning rate", self.lr, 0, 1000, lo_open=True)
        check_number("seed", self.seed, 0, MAX_SEED, integer=True)
        if self.cutn < 1:
            raise InputError(f"cutn must be at least 1, found {self.cutn}")
        check_number("cutn", self.cutn, 1, 4096, integer=True)
        check_number("cut power", self.cut_pow, 0, 100, lo_open=True)
        check_number("init weight", self.init_weight, 0, 1e6)
        if not 0 <= self.ema < 1:
            raise InputError(f"ema must be in [0, 1), found {self.ema}")
        check_number("ema", self.ema, 0, 1, hi_open=True)
        if self.save_every < 0:
            raise InputError(f"save_every must be 0 (off) or positive, found {self.save_every}")
        check_number("restarts", self.restarts, 1, MAX_RESTARTS, integer=True)
        for name in ("flip", "degrees", "translate", "scale", "jitter", "noise"):
            check_number(f"augmentation {name}", getattr(self.augment, name), 0, 180 if name == "degrees" else 1)
        self._check_frame_memory()

    def starts(self) -> int:
        """Starts a cold run tries: `restarts` from a random or noise start; a grey or image start
        (the same whatever the seed) is one start."""
        return self.restarts if self.init in RESTART_INITS else 1

    def trial_steps(self) -> int:
        """Steps each start runs before the best goes on (0: one start, no trials)."""
        return max(1, self.steps // 5) if self.starts() > 1 else 0

    def total_steps(self) -> int:
        """Optimiser steps of a cold run, trials included: what a progress bar counts."""
        return self.steps + (self.starts() - 1) * self.trial_steps()

    def frame_count(self) -> int:
        """Frames of a run: one every `save_every` of its `steps` (with restarts, of the start that goes on)."""
        return self.steps // self.save_every if self.save_every and self.steps > 0 else 0

    def frames_held(self) -> int:
        """Frames in memory at most: the run's when kept, plus every start's trial frames, held until the choice."""
        trial = self.trial_steps() // self.save_every if self.save_every else 0
        return (self.frame_count() if self.keep_frames else 0) + self.starts() * trial

    def _check_frame_memory(self) -> None:
        """Kept frames are float32 `[F, H, W, 3]`: refuse before running when they would not fit."""
        from .memory import format_bytes, physical_memory_bytes

        if not self.frames_held():
            return
        needed = self.frames_held() * self.height * self.width * 3 * 4
        explicit = self.max_frame_bytes is not None
        limit = self.max_frame_bytes if explicit else physical_memory_bytes() // 4
        if needed > limit:
            allowed = "max_frame_bytes" if explicit else "a quarter of this machine's memory"
            raise InputError(
                f"keeping {self.frames_held()} frames (a frame every {self.save_every} of {self.steps} steps"
                f"{f', and of the trials of {self.starts()} starts' if self.trial_steps() >= self.save_every else ''}) of "
                f"{self.width}x{self.height} needs {format_bytes(needed)} of memory, more than the {format_bytes(limit)} "
                f"allowed ({allowed}); keep a frame less often, or run fewer steps{', fewer restarts' if self.starts() > 1 else ''} "
                f"or a smaller size"
            )


@dataclass
class TrainConfig:
    """Lyric attention training. `genre_weight` is the share of the genre in each entry's target."""

    kind: str = "mha"
    genre_weight: float = 0.7
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    val_fraction: float = 0.25
    seed: int = 0
    use_audio: bool = True
    genre_dropout: float = 0.5  # drop the genre from the query for this share of entries, so audio learns genre
    # The genre's share of the target for those entries (None: genre_weight). Without its label the conditioning
    # leans to the words (the sound is the weaker cue), so a run may ask the sound for more genre here.
    audio_only_genre_weight: float | None = None
    # Of the entries that keep their genre, this share hears a random training entry's audio (the
    # target stays theirs; with 4 even genres, 3 in 4 draws are another genre's), so a genre that is
    # given wins over a sound that disagrees (0: off).
    audio_mismatch: float = 0.5
    heads: int = 4
    hidden: int = 128
    dropout: float = 0.0
    audio_channels: tuple[int, ...] = (64, 64, 128)
    genre_template: str = GENRE_TEMPLATE
    genre_prompts: dict = field(default_factory=dict)
    image_dir: str | None = None
    keys: str = "words"  # one of ATTENTION_KEYS

    def validate(self) -> None:
        check_choice("attention kind", self.kind, ATTENTION_KINDS)
        check_choice("attention keys", self.keys, ATTENTION_KEYS)
        if not 0 <= self.genre_weight <= 1:
            raise InputError(f"genre weight must be in [0, 1], found {self.genre_weight}")
        check_number("genre weight", self.genre_weight, 0, 1)
        check_number("learning rate", self.lr, 0, 10, lo_open=True)
        check_number("weight decay", self.weight_decay, 0, 10)
        check_number("genre dropout", self.genre_dropout, 0, 1)
        if self.audio_only_genre_weight is not None:
            check_number("audio-only genre weight", self.audio_only_genre_weight, 0, 1)
        check_number("audio mismatch", self.audio_mismatch, 0, 1)
        check_number("dropout", self.dropout, 0, 1, hi_open=True)
        check_number("seed", self.seed, 0, 2**32 - 1, integer=True)
        check_number("epochs", self.epochs, 1, 1_000_000, integer=True)
        check_number("batch size", self.batch_size, 2, 1_000_000, integer=True)
        if self.epochs < 1:
            raise InputError(f"epochs must be at least 1, found {self.epochs}")
        if self.batch_size < 2:
            raise InputError(f"batch size must be at least 2 (the loss contrasts entries), found {self.batch_size}")
        if not 0 < self.val_fraction < 1:
            raise InputError(f"validation fraction must be in (0, 1), found {self.val_fraction}")
        check_template(self.genre_template)
        unknown = sorted(set(self.genre_prompts) - set(GENRES))
        if unknown:
            raise InputError(f"genre prompts given for {', '.join(unknown)}, which are not genres; known: {', '.join(GENRES)}")


MAX_FPS = 60  # frames per second a video may have; more is refused (no player shows it, every frame costs steps)
NO_LYRICS = "music"  # what lyric attention attends over when a song has no lyrics: the genre and sound carry it


@dataclass
class VideoConfig:
    """A song as a music video (`lag video`, the Song to Video node). The sampler's own settings
    (size, lr, cutn, seed, ...) stay in SamplerConfig; its `steps` are the first frame's (a cold start)."""

    fps: float = 8.0
    steps_per_frame: int = 4  # warm-start steps of every optimised frame after the first
    inbetween: int = 0  # frames between two optimised frames made by latent interpolation (decode only)
    transition: float = 1.0  # seconds over which the target moves from one segment's conditioning to the next
    # A boundary whose two conditionings' cosine is below this starts a new scene, as does a segment that
    # returns to an earlier scene's look (video.render.scene_starts); -1: never, neither.
    scene_cut: float = 0.5
    zoom: float = 0.0  # zoom per second (0.1: 10 % closer each second; negative zooms out)
    rotate: float = 0.0  # degrees per second, counter-clockwise
    translate_x: float = 0.0  # image widths per second (positive: content moves right)
    translate_y: float = 0.0  # image heights per second (positive: content moves down)
    reactivity: float = 0.0  # 0..1: how much onset strength (learning rate) and loudness (motion) drive each frame
    start: float = 0.0  # seconds into the song where the video starts
    duration: float = 0.0  # seconds of video (0: to the end of the song)
    upscale: int = 1  # the MP4's pixels per image pixel (nearest neighbour; 64 px frames look tiny)

    def validate(self) -> None:
        if not (math.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise InputError(f"fps must be in (0, {MAX_FPS}], found {self.fps}; 8 to 24 suit a music video")
        if self.steps_per_frame < 1:
            raise InputError(f"steps per frame must be at least 1, found {self.steps_per_frame}")
        if not 0 <= self.inbetween <= 16:
            raise InputError(f"in-between frames must be in [0, 16], found {self.inbetween}")
        if not 0 <= self.reactivity <= 1:
            raise InputError(f"reactivity must be in [0, 1], found {self.reactivity}")
        if not -1 <= self.scene_cut <= 1:
            raise InputError(f"scene cut must be a cosine in [-1, 1] (-1: never start a new scene), found {self.scene_cut}")
        for name in ("transition", "start", "duration"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"{name} must be 0 or more seconds, found {value}")
        for name in ("zoom", "rotate", "translate_x", "translate_y"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"{name} must be a finite number, found {getattr(self, name)}")
        if not abs(self.zoom) < 1:
            raise InputError(f"zoom must be in (-1, 1) per second, found {self.zoom}")
        if not 1 <= self.upscale <= 16:
            raise InputError(f"upscale must be in [1, 16], found {self.upscale}")
