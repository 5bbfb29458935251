"""Benchmark: our VQGAN-CLIP sampler vs the reference loop of the widely used VQGAN-CLIP scripts.

Both run on identical tiny models and settings (32 cutouts). The reference follows the
structure of the popular `generate.py` / notebook loop: a Python loop over cutouts with
per-cutout adaptive pooling, batched augmentations (flip, affine, colour jitter,
noise with kornia, as those scripts do), CLIP encode, spherical distance loss, Adam step, clamp.
Prints it/s of both and their ratio, plus first/last loss so the behaviour can be compared, then
a breakdown of one step: the work both loops share (decoder and CLIP, forward and backward) and
the cutouts each makes, with the ceiling that shared work puts on any loop's speed-up.

    .venv/bin/python bench/bench_sampler.py [--size 128] [--steps 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lag_core.cutouts import make_cutouts
from lag_core.device import resolve_device
from lag_core.models import make_preset
from lag_core.options import AugmentConfig, SamplerConfig
from lag_core.prompts import spherical_distance, text_targets
from lag_core.sampler import ClampWithGrad, render_latent, sample_vqgan_clip


def reference_cutouts(img, cut_size, cutn, cut_pow, gen):
    _, _, h, w = img.shape
    max_size, min_size = min(h, w), min(h, w, cut_size)
    cutouts = []
    for _ in range(cutn):
        size = int(torch.rand([], generator=gen) ** cut_pow * (max_size - min_size) + min_size)
        ox = torch.randint(0, w - size + 1, (), generator=gen)
        oy = torch.randint(0, h - size + 1, (), generator=gen)
        cutout = img[:, :, oy : oy + size, ox : ox + size]
        cutouts.append(F.adaptive_avg_pool2d(cutout, cut_size))
    return torch.cat(cutouts)


def make_reference_augment(aug: AugmentConfig):
    """The scripts' augmentations, done with kornia as they do it; same kinds and ranges as ours."""
    import kornia.augmentation as K

    augs = torch.nn.Sequential(
        K.RandomHorizontalFlip(p=aug.flip),
        K.RandomAffine(degrees=aug.degrees, translate=aug.translate, scale=(1 - aug.scale, 1 + aug.scale),
                       padding_mode="border", p=1.0),
        K.ColorJitter(brightness=aug.jitter, contrast=aug.jitter, saturation=aug.jitter, p=1.0),
    )

    def augment(x, gen):
        x = augs(x)
        facs = torch.rand(x.shape[0], 1, 1, 1, generator=gen, device=gen.device) * aug.noise
        return x + facs * torch.randn(x.shape, generator=gen, device=gen.device)

    return augment


def reference_loop(vqgan, clip, targets, cfg: SamplerConfig):
    device = next(vqgan.parameters()).device
    gen = torch.Generator().manual_seed(cfg.seed)  # crop sizes and offsets: Python scalars, as the scripts
    dev_gen = torch.Generator(device=device).manual_seed(cfg.seed)
    f = vqgan.downsample_factor
    codes = torch.randint(vqgan.cfg.n_embed, (1, cfg.height // f, cfg.width // f), generator=dev_gen, device=device)
    z = vqgan.quantize.lookup(codes).clone().requires_grad_(True)
    z_min, z_max = vqgan.codebook_range()
    opt = torch.optim.Adam([z], lr=cfg.lr)
    augment = make_reference_augment(cfg.augment)
    torch.manual_seed(cfg.seed)  # kornia draws from the global generator
    losses = []
    for _ in range(cfg.steps):
        opt.zero_grad()
        out = ClampWithGrad.apply(vqgan.decode(vqgan.quantize(z)).add(1).div(2), 0.0, 1.0)
        cut = augment(reference_cutouts(out, clip.image_size, cfg.cutn, cfg.cut_pow, gen), dev_gen)
        embeds = clip.image_features(cut)
        loss = sum(
            w * spherical_distance(embeds, t[None]).mean() for t, w in zip(targets.embeds, targets.weights.tolist())
        )
        loss.backward()
        opt.step()
        with torch.no_grad():
            z.copy_(z.maximum(z_min).minimum(z_max))
        losses.append(float(loss.detach()))
    final = render_latent(vqgan, z)  # the final image, as the scripts save it (our sampler returns it too)
    return losses, final


def step_breakdown(vqgan, clip, size: int, cutn: int, reps: int) -> dict[str, float]:
    """Median milliseconds of each part of one step, forward and backward, on the same models."""
    device = next(vqgan.parameters()).device
    gen = torch.Generator(device=device).manual_seed(0)
    f = vqgan.downsample_factor
    z = vqgan.quantize.lookup(torch.randint(vqgan.cfg.n_embed, (1, size // f, size // f), generator=gen, device=device))
    image = torch.rand(1, 3, size, size, generator=gen, device=device)
    cuts = torch.rand(cutn, 3, clip.image_size, clip.image_size, generator=gen, device=device)
    aug = AugmentConfig()
    ref_augment = make_reference_augment(aug)
    cpu_gen = torch.Generator().manual_seed(0)

    def decoder():
        zz = z.clone().requires_grad_(True)
        ClampWithGrad.apply(vqgan.decode(vqgan.quantize(zz)).add(1).div(2), 0.0, 1.0).mean().backward()

    def clip_part():
        clip.image_features(cuts.clone().requires_grad_(True)).sum().backward()

    def ours_cutouts():
        img = image.clone().requires_grad_(True)
        make_cutouts(img, clip.image_size, cutn, 1.0, aug, gen).mean().backward()

    def reference_cutouts_part():
        img = image.clone().requires_grad_(True)
        ref_augment(reference_cutouts(img, clip.image_size, cutn, 1.0, cpu_gen), gen).mean().backward()

    parts = {"decoder": decoder, "clip": clip_part, "ours_cutouts": ours_cutouts,
             "reference_cutouts": reference_cutouts_part}
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(reps + 1):  # round-robin, so a slow spell hits every part alike; the first round warms up
        for name, fn in parts.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(t[1:]) * 1e3 for name, t in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cutn", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5,
                    help="runs of each loop, alternating; the speed-up is the median of the paired ratios")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "auto"],
                    help="our sampler's precision; the reference loop always runs in fp32 as the scripts do")
    args = ap.parse_args()
    device = resolve_device(args.device)
    vqgan, clip = make_preset("tiny", device=device)
    targets = text_targets(clip, ["a red sun over a dark sea", "blurry:-0.5"])
    cfg = SamplerConfig(width=args.size, height=args.size, steps=args.steps, cutn=args.cutn, seed=0, lr=0.1,
                       init="random", restarts=1, precision=args.precision)  # as the reference loop: one start
    # warm-up both
    sample_vqgan_clip(vqgan, clip, targets, SamplerConfig(width=args.size, height=args.size, steps=2, cutn=args.cutn,
                                                          restarts=1, precision=args.precision))
    reference_loop(vqgan, clip, targets, SamplerConfig(width=args.size, height=args.size, steps=2, cutn=args.cutn))
    ours_t, ref_t = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        ours = sample_vqgan_clip(vqgan, clip, targets, cfg).losses
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = reference_loop(vqgan, clip, targets, cfg)[0]
        ref_t.append(time.perf_counter() - t)
    # Alternating runs paired: a slow spell on a shared machine hits both sides of a pair.
    ratio = statistics.median(r / o for o, r in zip(ours_t, ref_t))
    ours_its, ref_its = args.steps / statistics.median(ours_t), args.steps / statistics.median(ref_t)
    print(f"device={device} size={args.size} cutn={args.cutn} steps={args.steps} threads={torch.get_num_threads()} "
          f"precision={args.precision}")
    print(f"reference loop : {ref_its:7.2f} it/s   loss {ref[0]:.4f} -> {ref[-1]:.4f}")
    print(f"lag sampler    : {ours_its:7.2f} it/s   loss {ours[0]:.4f} -> {ours[-1]:.4f}")
    print(f"speed-up       : {ratio:7.2f}x  (median of {args.repeats} paired runs)")
    parts = step_breakdown(vqgan, clip, args.size, args.cutn, reps=max(5, args.steps // 2))
    shared = parts["decoder"] + parts["clip"]
    print(f"one step, forward + backward (median ms): decoder {parts['decoder']:.1f}, CLIP on {args.cutn} cutouts "
          f"{parts['clip']:.1f}, cutouts: ours {parts['ours_cutouts']:.1f}, reference {parts['reference_cutouts']:.1f}")
    print(f"shared work    : {shared:.1f} ms of the reference's {1e3 / ref_its:.1f} ms step; a loop doing only that "
          f"would be {1e3 / ref_its / shared:.2f}x the reference")


if __name__ == "__main__":
    main()
