"""VQGAN-CLIP: optimise a VQGAN latent so that CLIP sees the targets in the decoded image.

After Katherine Crowson's VQGAN-CLIP notebook (2021; Crowson et al., "VQGAN-CLIP", ECCV 2022):
the latent is quantised with a straight-through gradient, decoded, cut into augmented crops,
scored by CLIP against weighted targets with the squared spherical distance, and stepped by an
optimiser; after each step it is clamped to the codebook's range.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .cutouts import make_cutouts
from .device import autocast, resolve_precision
from .errors import InputError
from .options import OPTIMIZERS, SamplerConfig
from .prompts import Targets, targets_loss

log = logging.getLogger("lag")

# The optimizers SamplerConfig.optimizer names (options.OPTIMIZERS), as torch classes.
OPTIMIZER_CLASSES = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad,
    "adamax": torch.optim.Adamax,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "radam": torch.optim.RAdam,
    "nadam": torch.optim.NAdam,
}
assert tuple(OPTIMIZER_CLASSES) == OPTIMIZERS

Callback = Callable[[int, int, dict], None]
SCORE_DRAWS = 2  # draws of cutouts that score each start after its trial (restarts)


@dataclass
class SampleResult:
    image: torch.Tensor  # [1, H, W, 3] float32 in 0..1 (ComfyUI IMAGE layout), on CPU
    frames: torch.Tensor | None  # [F, H, W, 3], or None (no save_every, or keep_frames off)
    losses: list[float]
    seconds: float
    steps: int
    latent: torch.Tensor  # [1, D, h, w] the final latent (the EMA's with ema > 0), on CPU
    start: int = 0  # which of the `restarts` random starts went on
    start_scores: list[float] | None = None  # each start's loss after its trial (restarts > 1), lower is better


class _Run:
    """One start of the sampler: its latent, optimiser and EMA, stepped from outside."""

    def __init__(self, z0: torch.Tensor, cfg: SamplerConfig, bounds: tuple[torch.Tensor, torch.Tensor], amp_dtype, index: int = 0):
        self.z0, self.cfg, self.bounds, self.amp_dtype, self.index = z0, cfg, bounds, amp_dtype, index
        self.z = z0.clone().requires_grad_(True)
        self.optimizer = OPTIMIZER_CLASSES[cfg.optimizer.lower()]([self.z], lr=cfg.lr)
        self.z_ema = z0.clone() if cfg.ema > 0 else None
        self.losses: list[float] = []
        self.trial_frames: list[tuple[int, torch.Tensor]] = []  # (own step, frame [1, H, W, 3]) while on trial

    def loss(self, z: torch.Tensor, vqgan, clip, targets: Targets, gen, pull: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP's loss of latent `z` decoded, on `cutn` cutouts drawn from `gen` (plus, with `pull`, the
        init weight's pull towards the start); and the image `[1, 3, H, W]`."""
        cfg = self.cfg
        with autocast(z.device, self.amp_dtype):
            image = vqgan.decode(vqgan.quantize(z))  # [1, 3, H, W] in ~[-1, 1]
            image = ClampWithGrad.apply(image.float().add(1).div(2), 0.0, 1.0)
            cutouts = make_cutouts(image, clip.image_size, cfg.cutn, cfg.cut_pow, cfg.augment, gen)
            embeds = clip.image_features(cutouts)  # [cutn, D]
        loss = targets_loss(embeds, targets)
        if pull and cfg.init_weight:
            loss = loss + cfg.init_weight * F.mse_loss(z, self.z0)
        return loss, image

    def step(self, vqgan, clip, targets: Targets, gen) -> torch.Tensor:
        """One optimiser step; returns the image CLIP scored."""
        self.optimizer.zero_grad(set_to_none=True)
        loss, image = self.loss(self.z, vqgan, clip, targets, gen)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.z.clamp_(*self.bounds)
            if self.z_ema is not None:
                self.z_ema.mul_(self.cfg.ema).add_(self.z, alpha=1 - self.cfg.ema)
        self.losses.append(float(loss.detach()))
        return image

    @torch.no_grad()
    def score(self, vqgan, clip, targets: Targets) -> float:
        """CLIP's loss of this start's latent (not its EMA, which after a short trial is still mostly
        where it began; no init-weight term, which would favour the start that moved least), on the same
        cutouts for every start (a generator seeded alike: equal terms), averaged over `SCORE_DRAWS` draws."""
        gen = torch.Generator(device=self.z.device).manual_seed(int(self.cfg.seed))
        return sum(float(self.loss(self.z, vqgan, clip, targets, gen, pull=False)[0]) for _ in range(SCORE_DRAWS)) / SCORE_DRAWS

    def output(self) -> torch.Tensor:
        return self.z_ema if self.z_ema is not None else self.z


class ClampWithGrad(torch.autograd.Function):
    """Clamp forward; backward lets through gradients that push values back into range."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.lo, ctx.hi = lo, hi
        ctx.save_for_backward(x)
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        outside = ((x < ctx.lo) & (grad > 0)) | ((x > ctx.hi) & (grad < 0))
        return grad * ~outside, None, None


def to_image_layout(img: torch.Tensor) -> torch.Tensor:
    """`[B, 3, H, W]` -> `[B, H, W, 3]` float32 on CPU."""
    return img.detach().float().permute(0, 2, 3, 1).contiguous().cpu()


@contextlib.contextmanager
def _grad_enabled_and_determinism(deterministic: bool, device: torch.device):
    """Leave ComfyUI's inference mode and, when asked, force deterministic kernels."""
    previous = torch.are_deterministic_algorithms_enabled()
    with torch.inference_mode(False), torch.enable_grad():
        if deterministic:
            if device.type == "cuda":
                # cuBLAS is deterministic only with a fixed workspace; torch checks this variable on
                # every matmul under deterministic mode and refuses to run without it.
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


def release_inference_tensors(module: torch.nn.Module) -> torch.nn.Module:
    """Models loaded under `torch.inference_mode()` (every ComfyUI node runs under it) hold
    inference tensors, which autograd cannot save for backward. Replace them, in place, with
    normal copies; a no-op for models loaded normally."""
    with torch.inference_mode(False):
        for sub in module.modules():
            for name, param in list(sub.named_parameters(recurse=False)):
                if param.is_inference():
                    setattr(sub, name, torch.nn.Parameter(param.clone(), requires_grad=param.requires_grad))
            for name, buf in list(sub.named_buffers(recurse=False)):
                if buf is not None and buf.is_inference():
                    sub._buffers[name] = buf.clone()
    return module


def _initial_latent(vqgan, cfg: SamplerConfig, init_image, gen, device) -> torch.Tensor:
    f = vqgan.downsample_factor
    h, w = cfg.height // f, cfg.width // f
    if cfg.init == "random":
        codes = torch.randint(vqgan.cfg.n_embed, (1, h, w), generator=gen, device=device)  # [1, h, w]
        return vqgan.quantize.lookup(codes)  # [1, D, h, w]
    if cfg.init == "noise":
        pixels = torch.rand((1, 3, cfg.height, cfg.width), generator=gen, device=device) * 2 - 1
        return vqgan.encode(pixels)
    if cfg.init == "grey":
        # A neutral start: no colour the prompt must first unlearn. Random codes decode to whatever
        # the decoder makes of unseen code combinations (pale for the toy world's), and from there
        # a prompt whose look is far away can stall.
        return vqgan.encode(torch.zeros((1, 3, cfg.height, cfg.width), device=device))
    if init_image is None:
        raise InputError("init 'image' needs an init image; pass --init-image FILE or choose init random/noise/grey")
    img = init_image.to(device).float()
    if img.ndim == 3:
        img = img[None]
    if img.shape[-1] == 3 and img.shape[1] != 3:  # [B, H, W, 3] -> [B, 3, H, W]
        img = img.permute(0, 3, 1, 2)
    img = F.interpolate(img[:1], size=(cfg.height, cfg.width), mode="bicubic", antialias=True).clamp(0, 1)
    return vqgan.encode(img * 2 - 1)


def estimate_memory(vqgan, clip, cfg: SamplerConfig) -> int:
    """Bytes one step holds for backward, roughly: the decoder's activations at every level (about
    8 float32 tensors per resnet block, plus attention maps), the cutouts and CLIP's activations on
    them. An estimate to refuse hopeless sizes before allocating, not a profile."""
    v = vqgan.cfg
    levels = len(v.ch_mult)
    decoder = 0
    for i, mult in enumerate(v.ch_mult):  # level i works at 1 / 2**i of the output size
        h, w = cfg.height // 2**i, cfg.width // 2**i
        decoder += (v.num_res_blocks + 1) * 8 * 4 * v.ch * mult * h * w
        if v.resolution // 2**i in v.attn_resolutions:
            decoder += (v.num_res_blocks + 1) * 3 * 4 * (h * w) ** 2
    lowest = (cfg.height // 2 ** (levels - 1)) * (cfg.width // 2 ** (levels - 1))
    decoder += 3 * 4 * lowest**2 + 16 * 4 * v.z_channels * lowest  # the middle block's attention and blocks
    vision = clip.model_cfg.get("vision_cfg", {})
    patch = int(vision.get("patch_size", 32) or 32)
    tokens = (clip.image_size // patch) ** 2 + 1
    width, layers = int(vision.get("width", 768)), int(vision.get("layers", 12))
    cutouts = cfg.cutn * 3 * clip.image_size**2 * 4 * 8
    vit = cfg.cutn * tokens * width * layers * 16 * 4 + cfg.cutn * layers * 12 * tokens**2 * 4
    return decoder + cutouts + vit


def _check_memory(vqgan, clip, cfg: SamplerConfig, device: torch.device) -> None:
    from .memory import format_bytes, physical_memory_bytes

    needed = estimate_memory(vqgan, clip, cfg)
    if device.type == "cuda":
        have, where = torch.cuda.get_device_properties(device).total_memory, f"the GPU's {device}"
    else:
        have, where = physical_memory_bytes(), "this machine's"
    if needed > have:
        raise InputError(f"{cfg.width}x{cfg.height} with {cfg.cutn} cutouts needs about {format_bytes(needed)} of memory "
                         f"(an estimate), more than {where} {format_bytes(have)}; lower the size or cutn")


def _warm_latent(vqgan, cfg: SamplerConfig, latent: torch.Tensor, device) -> torch.Tensor:
    f = vqgan.downsample_factor
    expected = (1, vqgan.cfg.embed_dim, cfg.height // f, cfg.width // f)
    if tuple(latent.shape) != expected:
        raise InputError(f"the initial latent must be {list(expected)} for {cfg.width}x{cfg.height} with this VQGAN, "
                         f"found {list(latent.shape)}; pass a SampleResult.latent made at the same size with the same VQGAN")
    return latent.detach().to(device).float().clone()  # a copy: may be an inference tensor


def sample_vqgan_clip(
    vqgan,
    clip,
    targets: Targets,
    cfg: SamplerConfig,
    *,
    init_image: torch.Tensor | None = None,
    init_latent: torch.Tensor | None = None,
    callback: Callback | None = None,
) -> SampleResult:
    """Run VQGAN-CLIP. `callback(step, total, info)` is called after every step (and, with restarts,
    after each start's score and for each held trial frame, `step` not advancing); raising in it stops
    the run (nothing is written by this function). A step's `info` has `loss` and `image` (the image
    CLIP scored at this step, `[1, H, W, 3]`), plus `frame` (`[1, H, W, 3]`) every `save_every` steps.
    With `keep_frames` the frames are also returned, in one `[F, H, W, 3]` tensor whose size
    `cfg.validate` checked before the run; without it they only go to the callback.

    `init_latent` (`[1, D, h, w]`, e.g. a previous `SampleResult.latent`) warm-starts the run from
    that latent instead of `cfg.init`: a video's next frame continues the previous one.

    With `cfg.restarts` > 1 a cold run from a random or noise start tries that many starts for `cfg.trial_steps()` steps
    each, scores what each would output on the same cutouts, and the best goes on to `cfg.steps`
    (a warm, grey or image start is one start). The callback then counts every step, trials included
    (`cfg.total_steps()`), and gets `info["start"]` during the trials. Frames are of the start that
    goes on: its trial's are held until the choice, then passed to the callback, one call each
    (`step` not advancing). `info["frame_step"]` is a frame's step in its own run (1..`cfg.steps`)."""
    cfg.validate(vqgan.downsample_factor)
    if init_latent is not None and cfg.restarts > 1:
        cfg = dataclasses.replace(cfg, restarts=1)
    device = next(vqgan.parameters()).device
    _check_memory(vqgan, clip, cfg, device)
    amp_dtype = resolve_precision(cfg.precision, device)
    if targets.dim != clip.embed_dim:
        raise InputError(
            f"targets have dimension {targets.dim} but the CLIP model embeds to {clip.embed_dim}; "
            "build the targets (prompts, conditioning) with the same CLIP model"
        )
    start = time.perf_counter()
    with _grad_enabled_and_determinism(cfg.deterministic, device):
        release_inference_tensors(vqgan)
        release_inference_tensors(clip.model)
        # Inputs may be inference tensors too (made inside a ComfyUI node): clone them here.
        targets = Targets(targets.embeds.to(device).clone(), targets.weights.to(device).clone(), list(targets.labels))
        if init_image is not None:
            init_image = init_image.clone()
        gen = torch.Generator(device=device).manual_seed(int(cfg.seed))
        with torch.no_grad():
            z_min, z_max = (t.float() for t in vqgan.codebook_range())
            if init_latent is None:
                # Start 0 is what a run of one start draws: restarts 1 is the plain sampler.
                starts = [_initial_latent(vqgan, cfg, init_image, gen, device).float().clamp(z_min, z_max)
                          for _ in range(cfg.starts())]
            else:
                starts = [_warm_latent(vqgan, cfg, init_latent, device).clamp(z_min, z_max)]  # a warm start is one start
        runs = [_Run(z0, cfg, (z_min, z_max), amp_dtype, k) for k, z0 in enumerate(starts)]
        total = cfg.total_steps()
        # Allocated once, at the size validate() accepted: never grows, never concatenated.
        frames = torch.empty((cfg.frame_count(), cfg.height, cfg.width, 3)) if cfg.keep_frames and cfg.frame_count() else None
        progress = 0

        def keep(own_step: int, frame: torch.Tensor) -> None:
            """A frame of the run that goes on: into `frames`, and to the callback."""
            if frames is not None:
                frames[own_step // cfg.save_every - 1] = frame[0]

        def step(run: _Run, own_step: int, trial: bool) -> None:
            nonlocal progress
            image = run.step(vqgan, clip, targets, gen)
            progress += 1
            frame = None
            if cfg.save_every and own_step % cfg.save_every == 0 and (frames is not None or callback is not None):
                frame = render_latent(vqgan, run.output())  # [1, H, W, 3]
                if trial:  # held until it is known which start goes on
                    run.trial_frames.append((own_step, frame))
                    frame = None
                else:
                    keep(own_step, frame)
            if callback is not None:
                info = {"loss": run.losses[-1], "image": to_image_layout(image)}  # a copy to the CPU: only when asked
                if frame is not None:
                    info["frame"], info["frame_step"] = frame, own_step
                if trial:
                    info["start"] = run.index
                callback(progress, total, info)

        first = 1
        if len(runs) > 1:
            trial_steps = cfg.trial_steps()
            for run in runs:
                for own_step in range(1, trial_steps + 1):
                    step(run, own_step, trial=True)
            scores = []
            for run in runs:  # scoring takes a few steps' time: the callback (Cancel) between starts
                scores.append(run.score(vqgan, clip, targets))
                if callback is not None:
                    callback(progress, total, {"loss": scores[-1], "start": run.index})
            best = min(range(len(runs)), key=scores.__getitem__)
            log.debug("restarts: start %d of %d goes on (scores %s)", best, len(runs), [round(x, 4) for x in scores])
            run, first = runs[best], trial_steps + 1
            for own_step, frame in run.trial_frames:  # the chosen start's frames of its trial, now they count
                keep(own_step, frame)
                if callback is not None:
                    callback(progress, total, {"loss": run.losses[own_step - 1], "frame": frame, "frame_step": own_step,
                                               "start": run.index})
            for other in runs:
                other.trial_frames.clear()
        else:
            run, scores = runs[0], None
        for own_step in range(first, cfg.steps + 1):
            step(run, own_step, trial=False)
        final = render_latent(vqgan, run.output())
    return SampleResult(
        image=final,
        frames=frames,
        losses=run.losses,
        seconds=time.perf_counter() - start,
        steps=cfg.steps,
        latent=run.output().detach().float().cpu(),
        start=run.index,
        start_scores=scores,
    )


@torch.no_grad()
def render_latent(vqgan, z: torch.Tensor) -> torch.Tensor:
    image = vqgan.decode(vqgan.quantize(z.detach())).float().add(1).div(2).clamp(0, 1)
    return to_image_layout(image)
