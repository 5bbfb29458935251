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
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTION_KINDS = ("mha", "bahdanau")
PRESETS = ("toyworld", "tiny")
DEFAULT_PRESET = "toyworld"
MODEL_KINDS = ("vqgan", "clip", "attention")
GENRE_TEMPLATE = "{genre} music album art"


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
    cutn: int = 32
    cut_pow: float = 1.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    ema: float = 0.0  # EMA decay of the latent for the output (0 = off)
    save_every: int = 0  # a frame every N steps (0 = none), passed to the callback as info["frame"]
    keep_frames: bool = True  # also keep those frames in SampleResult.frames (False: stream them to the callback only)
    max_frame_bytes: int | None = None  # memory the kept frames may take (None: a quarter of this machine's)
    deterministic: bool = False
    precision: str = "auto"

    def validate(self, factor: int) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value <= 0 or value % factor:
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
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"learning rate must be positive, found {self.lr}")
        if self.cutn < 1:
            raise InputError(f"cutn must be at least 1, found {self.cutn}")
        if not 0 <= self.ema < 1:
            raise InputError(f"ema must be in [0, 1), found {self.ema}")
        if self.save_every < 0:
            raise InputError(f"save_every must be 0 (off) or positive, found {self.save_every}")
        self._check_frame_memory()

    def frame_count(self) -> int:
        return self.steps // self.save_every if self.save_every and self.steps > 0 else 0

    def _check_frame_memory(self) -> None:
        """Kept frames are float32 `[F, H, W, 3]`: refuse before running when they would not fit."""
        from .memory import format_bytes, physical_memory_bytes

        if not self.keep_frames or not self.frame_count():
            return
        needed = self.frame_count() * self.height * self.width * 3 * 4
        explicit = self.max_frame_bytes is not None
        limit = self.max_frame_bytes if explicit else physical_memory_bytes() // 4
        if needed > limit:
            allowed = "max_frame_bytes" if explicit else "a quarter of this machine's memory"
            raise InputError(
                f"keeping {self.frame_count()} frames (a frame every {self.save_every} of {self.steps} steps) of "
                f"{self.width}x{self.height} needs {format_bytes(needed)} of memory, more than the {format_bytes(limit)} "
                f"allowed ({allowed}); keep a frame less often, or run fewer steps or a smaller size"
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
    heads: int = 4
    hidden: int = 128
    dropout: float = 0.0
    audio_channels: tuple[int, ...] = (64, 64, 128)
    genre_template: str = GENRE_TEMPLATE
    genre_prompts: dict = field(default_factory=dict)
    image_dir: str | None = None
    end_token: bool = True  # attend over the end-of-text token too (it pools the whole line)

    def validate(self) -> None:
        check_choice("attention kind", self.kind, ATTENTION_KINDS)
        if not 0 <= self.genre_weight <= 1:
            raise InputError(f"genre weight must be in [0, 1], found {self.genre_weight}")
        if self.epochs < 1:
            raise InputError(f"epochs must be at least 1, found {self.epochs}")
        if self.batch_size < 2:
            raise InputError(f"batch size must be at least 2 (the loss contrasts entries), found {self.batch_size}")
        if not 0 < self.val_fraction < 1:
            raise InputError(f"validation fraction must be in (0, 1), found {self.val_fraction}")
        if "{genre}" not in self.genre_template:
            raise InputError(f"genre template must contain '{{genre}}', found '{self.genre_template}'")
