"""Train the toy world's two models on procedural renders (seeded, with a time budget).

* CLIP (open_clip, `lag-toyworld-arch-clip.json`: ViT 64 px / patch 8 / width 192 / 4 layers,
  text width 128 / 4 layers / context 32, joint space 128): symmetric InfoNCE in which every
  caption that is true of an image is a positive (multi-positive: a lyric line about fire is true
  of every fire picture, a genre phrase of every picture of that genre: `caption_truth`), and every
  positive must score on its own (`every_positive`: "pop" must be near every pop picture, not only
  the ones easiest to tell), learned temperature. Half of each
  batch is shown as the sampler's augmented cutouts (`sampler_views`), so that what VQGAN-CLIP
  shows it (rotated, jittered, noised views) means what the clean render means.
* Autoencoder: our VQGAN class with FSQ (7, 5, 5, 5), 64x64 -> 8x8 codes, L1 + MSE loss.

Both write fp16 safetensors that carry their config, loaded by the same loaders as real weights.
Renders for training come from seeds >= 1_000_000; evaluation uses seeds below that.
"""

from __future__ import annotations

import hashlib
import math
import time

import torch
import torch.nn.functional as F

from ..attention.loss import multi_positive_nce
from .data import batch, psnr

TRAIN_SEED_BASE = 1_000_000


def _lr(step: int, total: int, peak: float, warmup: int = 100) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _budgeted_training(loss_fn, opt, peak_lr: float, warmup: int, batch_size: int, minutes: float,
                       max_steps: int | None, callback, calibrate_after: int, seed_base: int = TRAIN_SEED_BASE) -> dict:
    """Run `loss_fn(seeds)` + optimizer steps until the time budget (or `max_steps`) is used up.
    The cosine schedule is fitted to the number of steps the budget allows, measured early on."""
    budget = minutes * 60
    est_steps = max_steps or 10_000
    start, step, losses = time.perf_counter(), 0, []
    with torch.inference_mode(False), torch.enable_grad():
        while (max_steps is None or step < max_steps) and time.perf_counter() - start < budget:
            seeds = range(seed_base + step * batch_size, seed_base + (step + 1) * batch_size)
            for group in opt.param_groups:
                group["lr"] = _lr(step, est_steps, peak_lr, warmup)
            loss = loss_fn(seeds)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            if max_steps is None and step == calibrate_after:
                est_steps = int(budget / ((time.perf_counter() - start) / step))
            if callback is not None:
                callback(step, est_steps, {"loss": losses[-1]})
    return {"steps": step, "loss_first": losses[0], "loss_last": sum(losses[-20:]) / len(losses[-20:]),
            "seconds": time.perf_counter() - start}


def sampler_views(images: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """Replace a `share` of `images` `[B, 3, H, W]` by one augmented cutout each, made exactly as
    the sampler makes them (random crop, flip, rotation, jitter, noise): the CLIP then learns that
    a crop of a metal scene is still metal, and its gradients stay meaningful on what the sampler
    shows it."""
    from ..cutouts import make_cutouts

    pick = (torch.rand(images.shape[0], generator=gen) < share).nonzero().squeeze(1)
    if len(pick) == 0:
        return images
    views = make_cutouts(images[pick], images.shape[-1], cutn=1, generator=gen).clamp(0, 1)
    out = images.clone()
    out[pick] = views
    return out


def caption_truth(captions, scenes) -> tuple[torch.Tensor, torch.Tensor]:
    """`[B, B]` bool each: caption j is true of image i (same motif where it names one, same genre
    where it names one; a line about fire is true of every fire picture, whatever its genre), and
    whether that is known. A genre phrase says nothing of a plain scene whose background could be the
    genre's (light grey, circles: pop): calling the phrase false of it would teach the CLIP that the
    look is not the genre, so those pairs are left out of the loss. Of any other plain scene it is
    false: shapes of any colour on a grey are no rap, whatever the colours (`render.could_be`)."""
    from .render import caption_key, could_be

    keys = [caption_key(c) for c in captions]
    true = torch.tensor([[(m is None or m == s.motif) and (g is None or g == s.genre) for m, g in keys] for s in scenes])
    known = torch.tensor([[g is None or s.genre is not None or not could_be(s, g) for _, g in keys] for s in scenes])
    return true, known


def train_toy_clip(out, minutes: float = 15.0, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                   max_steps: int | None = None, callback=None, views: float = 0.5, init=None) -> dict:
    """Train the toy CLIP from scratch, or continue the one in `init` (a toy CLIP file); a
    continued run draws renders from seeds after the first run's (`seed` shifts them)."""
    from ..clip_models import save_clip
    from ..models import make_clip

    torch.manual_seed(seed)
    clip = make_clip("toyworld-arch", seed=seed) if init is None else make_clip(str(init))
    model = clip.model.train().requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(seeds):
        images, captions, scenes = batch(seeds, with_scenes=True)
        images = sampler_views(images, views, gen)
        img = F.normalize(clip.image_features(images), dim=-1)  # [B, D]
        txt = F.normalize(model.encode_text(clip.tokenizer(captions)), dim=-1)  # [B, D]
        true, known = caption_truth(captions, scenes)  # [B images, B captions]: caption j is true of image i
        logits = (model.logit_scale.exp().clamp(max=100) * img @ txt.T).masked_fill(~known, float("-inf"))
        return 0.5 * (multi_positive_nce(logits, true, every_positive=True) + multi_positive_nce(logits.T, true.T, every_positive=True))

    info = _budgeted_training(loss_fn, opt, lr, 100, batch_size, minutes, max_steps, callback, calibrate_after=20,
                              seed_base=TRAIN_SEED_BASE + seed * 10_000_000)
    clip.model.eval().requires_grad_(False)
    # The id names these exact weights: attention trained with another toy CLIP is refused.
    digest = hashlib.sha1(b"".join(v.half().numpy().tobytes() for v in clip.model.state_dict().values()))
    clip.model_id = f"lag-toyworld-clip:{digest.hexdigest()[:12]}"
    save_clip(clip, out, dtype=torch.float16)
    return {**info, "model_id": clip.model_id}


def train_toy_vqgan(out, minutes: float = 15.0, batch_size: int = 8, lr: float = 1e-3, seed: int = 0,
                    max_steps: int | None = None, callback=None, init=None) -> dict:
    """Train the autoencoder from scratch, or fine-tune the one in `init` (a file `load_vqgan` reads,
    of the toy world's config) when the renders change."""
    from ..errors import WeightsError
    from ..models import named_config
    from ..vqgan import VQGAN, VQGANConfig, load_vqgan, save_vqgan

    arch = VQGANConfig.from_dict(named_config("vqgan", "toyworld-arch"))
    torch.manual_seed(seed)
    model = VQGAN(arch).train()
    if init is not None:
        start = load_vqgan(init)
        if start.cfg != arch:
            raise WeightsError(f"--init {init} is not a toy-world autoencoder (its config differs); "
                               "give weights made by `lag toyworld train-vqgan`, or leave --init out")
        model.load_state_dict(start.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99))

    def loss_fn(seeds):
        x = batch(seeds)[0] * 2 - 1  # [B, 3, 64, 64] in [-1, 1]
        y = model(x)
        return F.l1_loss(y, x) + F.mse_loss(y, x)

    info = _budgeted_training(loss_fn, opt, lr, 50, batch_size, minutes, max_steps, callback, calibrate_after=10)
    model.eval().requires_grad_(False)
    info["psnr_db"] = eval_vqgan_psnr(model)
    save_vqgan(model, out, dtype=torch.float16, extra={"lag_model": "toyworld-vqgan:v1", "psnr_db": f"{info['psnr_db']:.2f}"})
    return info


@torch.no_grad()
def eval_vqgan_psnr(model, n: int = 256, seed: int = 0) -> float:
    x, _ = batch(range(seed, seed + n))
    y = torch.cat([model(part * 2 - 1).add(1).div(2).clamp(0, 1) for part in x.split(64)])
    return psnr(y, x)


@torch.no_grad()
def eval_clip_zero_shot(clip, n: int = 256, seed: int = 0) -> dict:
    """Zero-shot accuracy on fresh renders of genre x motif combinations: the genre (against the
    four genre prompts), the motif against its sample word forms alone ("motif"), against its
    held-out word forms ("motif_heldout_forms"), and against held-out forms inside a sentence
    ("motif_in_line")."""
    import numpy as np

    from ..options import GENRE_TEMPLATE, GENRES
    from .render import draw, genre_scene
    from .vocab import HELDOUT_FORMS, MOTIF_NAMES, TRAIN_FORMS

    def motif_prompts(forms, frame="{w}"):
        # one embedding per motif: the mean of its word forms' embeddings
        return F.normalize(torch.stack([clip.embed_texts([frame.format(w=w) for w in forms[m]]).mean(0)
                                        for m in MOTIF_NAMES]), dim=-1)  # [M, D]

    rng = np.random.default_rng(seed)
    prompts = {"genre": clip.embed_texts([GENRE_TEMPLATE.format(genre=g) for g in GENRES]),
               "motif": motif_prompts(TRAIN_FORMS), "motif_heldout_forms": motif_prompts(HELDOUT_FORMS),
               "motif_in_line": motif_prompts(HELDOUT_FORMS, "and we keep on walking through the {w} tonight")}
    hits = {k: [] for k in prompts}
    for i in range(n):
        g, m = GENRES[i % len(GENRES)], MOTIF_NAMES[(i // len(GENRES)) % len(MOTIF_NAMES)]
        img = draw(genre_scene(g, m, rng), rng)
        e = clip.embed_images(torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(clip.device))
        for k, p in prompts.items():
            pred = int((e @ p.to(e.dtype).T).argmax())
            hits[k].append(pred == (GENRES.index(g) if k == "genre" else MOTIF_NAMES.index(m)))
    return {k: float(np.mean(v)) for k, v in hits.items()}
