"""VQGANCLIPSampler and its options node."""

from __future__ import annotations

from ..lag_core.options import INIT_MODES, MAX_RESTARTS, OPTIMIZERS, PRECISIONS, AugmentConfig, SamplerConfig
from .common import progress

A, S = AugmentConfig, SamplerConfig  # their field defaults are the inputs' defaults
MIN_FACTOR = 8  # the smallest downsampling factor of the VQGANs we know (bundled: 8; taming f16: 16)


def sampler_config(options: dict | None, **fields) -> SamplerConfig:
    """A SamplerConfig from the node's own inputs (`fields`) and a Sampler Options dict (or None: defaults)."""
    o = options or {}
    aug = AugmentConfig(enabled=o.get("augment", A.enabled), flip=o.get("flip", A.flip), degrees=o.get("degrees", A.degrees),
                        noise=o.get("noise", A.noise), jitter=o.get("jitter", A.jitter))
    return SamplerConfig(**fields, init_weight=o.get("init_weight", S.init_weight), augment=aug, ema=o.get("ema", S.ema),
                         deterministic=o.get("deterministic", S.deterministic), precision=o.get("precision", S.precision),
                         restarts=o.get("restarts", S.restarts))


class LAGSamplerOptions:
    DESCRIPTION = ("Rarely changed VQGAN-CLIP settings: augmentations, latent EMA, init weight, determinism, precision, "
                   "and restarts (several random starts, the best goes on).")
    CATEGORY = "LAG/sampling"
    RETURN_TYPES = ("LAG_SAMPLER_OPTIONS",)
    RETURN_NAMES = ("options",)
    OUTPUT_TOOLTIPS = ("Options for the VQGAN-CLIP Sampler.",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "augment": ("BOOLEAN", {"default": A.enabled, "tooltip": "Augment the cutouts (flip, affine, colour jitter, noise)."}),
            "flip": ("FLOAT", {"default": A.flip, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": "Probability of a horizontal flip."}),
            "degrees": ("FLOAT", {"default": A.degrees, "min": 0.0, "max": 180.0, "step": 1.0, "tooltip": "Rotation range (+-)."}),
            "noise": ("FLOAT", {"default": A.noise, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Max std of the noise added to cutouts."}),
            "jitter": ("FLOAT", {"default": A.jitter, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Brightness/contrast/saturation range (+-)."}),
            "ema": ("FLOAT", {"default": S.ema, "min": 0.0, "max": 0.999, "step": 0.001, "tooltip": "EMA decay of the latent for the output (0 = off)."}),
            "init_weight": ("FLOAT", {"default": S.init_weight, "min": 0.0, "max": 10.0, "step": 0.01, "tooltip": "Pull towards the initial latent."}),
            "deterministic": ("BOOLEAN", {"default": S.deterministic, "tooltip": "Deterministic kernels: identical output for identical inputs on CPU."}),
            "precision": (list(PRECISIONS), {"default": S.precision, "tooltip": "Autocast precision on CUDA (CPU always runs fp32)."}),
        }, "optional": {  # optional: API prompts written before it still validate
            "restarts": ("INT", {"default": S.restarts, "min": 1, "max": MAX_RESTARTS, "tooltip":
                         "Random starts to try for a fifth of the steps each; the one CLIP scores best goes on (1: one start). "
                         "Costs (restarts - 1) fifths more steps; a picture stuck on a wrong colour is rarer. Video: each cold start."}),
        }}

    def make(self, augment, flip, degrees, noise, jitter, ema, init_weight, deterministic, precision, restarts=S.restarts):
        return ({"augment": augment, "flip": flip, "degrees": degrees, "noise": noise, "jitter": jitter, "ema": ema,
                 "init_weight": init_weight, "deterministic": deterministic, "precision": precision, "restarts": restarts},)


class LAGVQGANCLIPSampler:
    DESCRIPTION = ("VQGAN-CLIP: optimises a VQGAN latent so that CLIP sees the targets, from text prompts (one per line, "
                   "'text:weight', negative weights push away), song conditionings from Lyric Attention, and/or an image "
                   "prompt. Shows a live preview; Cancel stops within one step. Outputs the image and, when frame_every > 0, "
                   "the frames as an image batch.")
    CATEGORY = "LAG/sampling"
    RETURN_TYPES = ("IMAGE", "IMAGE")
    RETURN_NAMES = ("image", "frames")
    OUTPUT_TOOLTIPS = ("The final image [1, H, W, 3].", "Frames every frame_every steps [F, H, W, 3] (the final image if none).")
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "vqgan": ("LAG_VQGAN", {"tooltip": "From Load VQGAN."}),
                "clip": ("LAG_CLIP", {"tooltip": "From Load CLIP (open_clip)."}),
                "prompts": ("STRING", {"multiline": True, "default": "", "tooltip": "One prompt per line, 'text' or 'text:weight'."}),
                "width": ("INT", {"default": S.width, "min": 8, "max": 4096, "step": 8, "tooltip": "A multiple of the VQGAN's factor (8 bundled, 16 taming)."}),
                "height": ("INT", {"default": S.height, "min": 8, "max": 4096, "step": 8, "tooltip": "A multiple of the VQGAN's factor (8 bundled, 16 taming)."}),
                "steps": ("INT", {"default": S.steps, "min": 1, "max": 10000, "tooltip": "Optimisation steps."}),
                "seed": ("INT", {"default": S.seed, "min": 0, "max": 0xFFFFFFFF, "tooltip": "Seed for the initial codes and the cutouts."}),
                "lr": ("FLOAT", {"default": S.lr, "min": 0.0001, "max": 10.0, "step": 0.005, "tooltip": "Learning rate."}),
                "optimizer": (list(OPTIMIZERS), {"default": S.optimizer, "tooltip": "Optimiser of the latent."}),
                "cutn": ("INT", {"default": S.cutn, "min": 1, "max": 256, "tooltip": "Cutouts per step."}),
                "cut_pow": ("FLOAT", {"default": S.cut_pow, "min": 0.1, "max": 10.0, "step": 0.1, "tooltip": "Cutout size power (higher = smaller cutouts)."}),
                "init": (list(INIT_MODES), {"default": S.init, "tooltip": "Start from random codes, flat grey, pixel noise, or init_image."}),
                "frame_every": ("INT", {"default": S.save_every, "min": 0, "max": 10000, "tooltip": "Keep a frame every N steps (0 = none)."}),
                "preview_every": ("INT", {"default": 5, "min": 0, "max": 10000, "tooltip": "Send a preview every N steps (0 = none)."}),
            },
            "optional": {
                "conditioning": ("LAG_CONDITIONING", {"tooltip": "Song conditioning(s) from Lyric Attention."}),
                "init_image": ("IMAGE", {"tooltip": "Start image (with init = image)."}),
                "image_prompt": ("IMAGE", {"tooltip": "An image to steer towards."}),
                "options": ("LAG_SAMPLER_OPTIONS", {"tooltip": "From Sampler Options."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, width, height, prompts):
        for name, value in (("width", width), ("height", height)):
            if value is not None and value % MIN_FACTOR:
                lo = max(MIN_FACTOR, value // MIN_FACTOR * MIN_FACTOR)
                return (f"{name} {value} is not a multiple of the VQGAN's downsampling factor ({MIN_FACTOR} for the bundled "
                        f"models, 16 for taming f16); use {lo} or {lo + MIN_FACTOR}")
        if prompts is not None:
            from ..lag_core.prompts import parse_prompt

            try:
                for line in str(prompts).splitlines():
                    if line.strip():
                        parse_prompt(line)
            except ValueError as exc:
                return str(exc)
        return True

    def sample(self, vqgan, clip, prompts, width, height, steps, seed, lr, optimizer, cutn, cut_pow, init,
               frame_every, preview_every, conditioning=None, init_image=None, image_prompt=None, options=None):
        import torch

        from ..lag_core.prompts import Targets, image_targets, text_targets
        from ..lag_core.sampler import sample_vqgan_clip

        cfg = sampler_config(options, width=width, height=height, steps=steps, lr=lr, optimizer=optimizer, seed=seed,
                             init=init, cutn=cutn, cut_pow=cut_pow, save_every=frame_every)
        cfg.validate(vqgan.downsample_factor)  # the exact factor, now that the VQGAN is loaded
        lines = [line for line in prompts.splitlines() if line.strip()]
        parts = [text_targets(clip, lines)] if lines else []
        if conditioning is not None:
            parts.append(conditioning)
        if image_prompt is not None:
            parts.append(image_targets(clip, [img.permute(2, 0, 1) for img in image_prompt]))
        targets = Targets.cat(parts)
        init_tensor = init_image[:1].permute(0, 3, 1, 2).clone() if init_image is not None else None
        result = sample_vqgan_clip(vqgan, clip, targets, cfg, init_image=init_tensor, callback=progress(cfg.total_steps(), preview_every))
        frames = result.frames if result.frames is not None else result.image
        return (result.image, frames.to(torch.float32))
