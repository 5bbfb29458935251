import pytest
import torch

from lag_core.errors import InputError
from lag_core.options import OPTIMIZERS, AugmentConfig, SamplerConfig
from lag_core.prompts import Targets, image_targets, text_targets
from lag_core.sampler import sample_vqgan_clip


def _cfg(**kw):
    base = dict(width=32, height=32, steps=4, cutn=8, seed=0, restarts=1)  # one start: the tests count steps
    base.update(kw)
    return SamplerConfig(**base)


def test_output_layout_and_loss_falls(tiny_models):
    vqgan, clip = tiny_models
    targets = text_targets(clip, ["a red sun over a dark sea"])
    cfg = _cfg(steps=40, augment=AugmentConfig(enabled=False), lr=0.2)
    result = sample_vqgan_clip(vqgan, clip, targets, cfg)
    assert result.image.shape == (1, 32, 32, 3)
    assert result.image.dtype == torch.float32
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert len(result.losses) == 40
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < first - 0.01, (first, last)


def test_image_target_pulls_image_towards_it(tiny_models):
    vqgan, clip = tiny_models
    goal = torch.zeros(3, 32, 32)
    goal[0] = 1.0  # pure red
    targets = image_targets(clip, [goal])
    result = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=30, lr=0.2))
    assert result.losses[-1] < result.losses[0]


def test_deterministic_mode_is_byte_identical(tiny_models):
    vqgan, clip = tiny_models
    targets = text_targets(clip, ["storm", "calm:-0.5"])
    a = sample_vqgan_clip(vqgan, clip, targets, _cfg(deterministic=True, seed=7))
    b = sample_vqgan_clip(vqgan, clip, targets, _cfg(deterministic=True, seed=7))
    c = sample_vqgan_clip(vqgan, clip, targets, _cfg(deterministic=True, seed=8))
    assert a.image.numpy().tobytes() == b.image.numpy().tobytes()
    assert a.losses == b.losses
    assert not torch.equal(a.image, c.image)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_deterministic_mode_on_cuda(precision):
    # grid_sample's CUDA backward has no deterministic kernel (cutouts are then sampled on the CPU),
    # and cuBLAS needs its workspace fixed: both handled inside the sampler.
    from lag_core.models import make_preset

    vqgan, clip = make_preset("tiny", device="cuda")
    targets = text_targets(clip, ["storm"])
    runs = [sample_vqgan_clip(vqgan, clip, targets, _cfg(deterministic=True, seed=7, precision=precision)) for _ in range(2)]
    assert torch.equal(runs[0].image, runs[1].image)


def _start(vqgan, clip, init, seed, init_image=None):
    """The image of the starting latent: one step with a step size too small to move it."""
    return sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(init=init, steps=1, lr=1e-12, seed=seed),
                             init_image=init_image)


def test_init_modes_start_where_they_say(tiny_models):
    from lag_core.sampler import render_latent

    vqgan, clip = tiny_models
    with torch.no_grad():
        grey = render_latent(vqgan, vqgan.encode(torch.zeros(1, 3, 32, 32)))
        book = vqgan.quantize.embedding.weight  # [n_embed, D]
    # random: every latent cell is a codebook entry, and the seed picks them
    r1, r2 = _start(vqgan, clip, "random", 1), _start(vqgan, clip, "random", 2)
    cells = r1.latent[0].flatten(1).T  # [h*w, D]
    assert torch.cdist(cells, book, compute_mode="donot_use_mm_for_euclid_dist").min(1).values.max() < 1e-5
    assert not torch.equal(r1.latent, r2.latent)
    # grey: the encoded mid-grey picture, whatever the seed
    g1, g2 = _start(vqgan, clip, "grey", 1), _start(vqgan, clip, "grey", 2)
    torch.testing.assert_close(g1.image, grey, atol=1e-5, rtol=0)
    assert torch.equal(g1.latent, g2.latent)
    # noise: pixel noise, so the seed matters and it is neither grey nor random codes
    n1, n2 = _start(vqgan, clip, "noise", 1), _start(vqgan, clip, "noise", 2)
    assert not torch.equal(n1.latent, n2.latent) and not torch.equal(n1.latent, g1.latent)


def test_init_image_is_kept_with_zero_steps_of_change(tiny_models):
    from lag_core.sampler import render_latent

    vqgan, clip = tiny_models
    picture = torch.zeros(1, 3, 32, 32)
    picture[:, 0, :, :16] = 1.0  # left half red, right half black
    with torch.no_grad():
        expected = render_latent(vqgan, vqgan.encode(picture * 2 - 1))  # the VQGAN's reconstruction
    kept = _start(vqgan, clip, "image", 1, init_image=picture)
    torch.testing.assert_close(kept.image, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(kept.image, _start(vqgan, clip, "grey", 1).image, atol=1e-3)
    with pytest.raises(InputError, match="init image"):
        sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(init="image"))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_moves_the_latent_its_own_way(tiny_models, name):
    vqgan, clip = tiny_models
    targets = text_targets(clip, ["x"])
    start = _start(vqgan, clip, "random", 0).latent
    result = sample_vqgan_clip(vqgan, clip, targets, _cfg(optimizer=name, steps=3))
    adam = sample_vqgan_clip(vqgan, clip, targets, _cfg(optimizer="adam", steps=3))
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert (result.latent - start).abs().max() > 1e-4  # it stepped
    assert (name == "adam") == torch.equal(result.latent, adam.latent)  # and the choice took effect


def test_latent_stays_in_codebook_range_and_frames(tiny_models):
    vqgan, clip = tiny_models
    seen = []
    result = sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(steps=6, save_every=2, ema=0.5, lr=5.0),
                               callback=lambda s, t, info: seen.append((s, t, sorted(info))))
    lo, hi = (t.cpu() for t in vqgan.codebook_range())
    free = sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(steps=6, lr=5.0)).latent
    assert (free >= lo - 1e-6).all() and (free <= hi + 1e-6).all()
    assert ((free - lo).abs() < 1e-6).any() or ((free - hi).abs() < 1e-6).any()  # lr 5 pushes it onto the bounds
    assert (result.latent >= lo - 1e-6).all() and (result.latent <= hi + 1e-6).all()
    assert result.frames.shape == (3, 32, 32, 3)
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5, 6]
    assert all(t == 6 for _, t, _ in seen)
    assert "frame" in seen[1][2] and "frame" not in seen[0][2]


def test_callback_raising_stops_the_run(tiny_models):
    vqgan, clip = tiny_models
    calls = []

    class Stop(Exception):
        pass

    def callback(step, total, info):
        calls.append(step)
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(steps=50), callback=callback)
    assert calls == [1, 2]


@pytest.mark.parametrize("kw,match", [
    (dict(width=30), "multiple of the VQGAN's downsampling factor 8"),
    (dict(steps=0), "steps must be at least 1"),
    (dict(optimizer="lion"), "unknown optimizer"),
    (dict(cutn=0), "cutn"),
    (dict(lr=-1), "learning rate"),
])
def test_bad_config(tiny_models, kw, match):
    vqgan, clip = tiny_models
    with pytest.raises(InputError, match=match):
        sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(**kw))


def test_targets_from_another_clip_space_rejected(tiny_models):
    vqgan, clip = tiny_models
    with pytest.raises(InputError, match="dimension"):
        sample_vqgan_clip(vqgan, clip, Targets.from_embeddings(torch.randn(1, 3)), _cfg())


def test_runs_under_inference_mode():
    """ComfyUI runs nodes under torch.inference_mode(): the sampler must still get gradients."""
    from lag_core.models import make_preset

    with torch.inference_mode():
        vqgan, clip = make_preset("tiny")  # ComfyUI's loader nodes run under inference mode too
        targets = text_targets(clip, ["x"])
        result = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=3))
    assert len(result.losses) == 3


def test_grey_start_is_the_encoded_mid_grey_picture(tiny_models):
    from lag_core.sampler import _initial_latent

    vqgan, _ = tiny_models
    cfg = _cfg(init="grey")
    a = _initial_latent(vqgan, cfg, None, torch.Generator().manual_seed(0), "cpu")
    b = _initial_latent(vqgan, cfg, None, torch.Generator().manual_seed(1), "cpu")
    torch.testing.assert_close(a, b)  # no seed in it: a neutral start
    torch.testing.assert_close(a, vqgan.encode(torch.full((1, 3, cfg.height, cfg.width), 0.5) * 2 - 1))


def test_bench_sampler_runs_and_prints_the_ceiling():
    """The benchmark is not timed here; this only keeps it runnable (both loops, the breakdown)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "bench_sampler.py"
    proc = subprocess.run([sys.executable, str(script), "--size", "32", "--steps", "2", "--repeats", "1", "--cutn", "4"],
                          capture_output=True, text=True, timeout=300, cwd=script.parents[1])
    assert proc.returncode == 0, proc.stderr
    for line in ("reference loop", "lag sampler", "speed-up", "shared work"):
        assert line in proc.stdout, proc.stdout


def test_kept_frames_are_bounded_before_the_run(tiny_models):
    """Issue 17 item 4: kept frames are float32 [F, H, W, 3]; the node's maxima (4096 x 4096, a
    frame every step, 10000 steps) would need 1.8 TiB. Refused before any step, with the estimate."""
    vqgan, clip = tiny_models
    steps = []
    huge = SamplerConfig(width=4096, height=4096, steps=10000, save_every=1, cutn=1, restarts=1)
    with pytest.raises(InputError, match=r"keeping 10000 frames .* of 4096x4096 needs 1\.8 TiB of memory") as info:
        sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), huge, callback=lambda s, t, i: steps.append(s))
    assert steps == [] and "\n" not in str(info.value)
    with pytest.raises(InputError, match=r"keeping 18000 frames \(a frame every 1 of 10000 steps, and of the trials of 4 starts\).*fewer restarts"):
        SamplerConfig(width=4096, height=4096, steps=10000, save_every=1, restarts=4).validate(8)
    # The bound is exact: 3 frames of 32x32 take 36864 bytes.
    with pytest.raises(InputError, match=r"needs 36\.0 KiB of memory, more than the 36\.0 KiB allowed \(max_frame_bytes\)"):
        _cfg(steps=6, save_every=2, max_frame_bytes=36863).validate(8)
    result = sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(steps=6, save_every=2, max_frame_bytes=36864))
    assert result.frames.shape == (3, 32, 32, 3) and result.frames.dtype == torch.float32


def test_streamed_frames_are_not_kept(tiny_models):
    """keep_frames=False (the CLI's --frames-dir): frames go to the callback only, any number of them."""
    vqgan, clip = tiny_models
    targets = text_targets(clip, ["x"])
    seen = []
    cfg = _cfg(steps=6, save_every=2, keep_frames=False, max_frame_bytes=0, deterministic=True)
    result = sample_vqgan_clip(vqgan, clip, targets, cfg, callback=lambda s, t, info: seen.append((s, info.get("frame"))))
    assert result.frames is None
    frames = [(s, f) for s, f in seen if f is not None]
    assert [s for s, _ in frames] == [2, 4, 6] and all(f.shape == (1, 32, 32, 3) for _, f in frames)
    kept = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=6, save_every=2, deterministic=True))
    torch.testing.assert_close(kept.frames, torch.cat([f for _, f in frames]), rtol=0, atol=0)


def test_restarts_try_each_start_and_the_best_goes_on(tiny_models):
    vqgan, clip = tiny_models
    targets = text_targets(clip, ["a red sun over a dark sea"])
    seen = []
    cfg = _cfg(steps=10, restarts=3, save_every=2)
    assert (cfg.trial_steps(), cfg.total_steps(), cfg.frame_count(), cfg.frames_held()) == (2, 14, 5, 8)
    result = sample_vqgan_clip(vqgan, clip, targets, cfg, callback=lambda s, t, info: seen.append((s, t, dict(info))))
    assert [s for s, _, _ in seen] == list(range(1, 7)) + [6] * 4 + list(range(7, 15)) and {t for _, t, _ in seen} == {14}
    assert [info.get("start") for _, _, info in seen[:6]] == [0, 0, 1, 1, 2, 2]  # each start's trial, in turn
    assert all("frame" not in info for _, _, info in seen[:9])  # held until the choice
    # Then each start's score (the step not advancing: Cancel can stop between them), ...
    assert [(info["start"], info["loss"]) for _, _, info in seen[6:9]] == list(enumerate(result.start_scores))
    chosen = seen[9][2]  # ... and the chosen start's trial frame
    assert chosen["start"] == result.start and chosen["frame_step"] == 2 and "image" not in chosen
    assert all("start" not in info for _, _, info in seen[10:])
    assert [(s, info["frame_step"]) for s, _, info in seen if "frame" in info] == [(6, 2), (8, 4), (10, 6), (12, 8), (14, 10)]
    assert len(result.start_scores) == 3 and len(set(result.start_scores)) == 3  # three different starts
    assert result.start == min(range(3), key=result.start_scores.__getitem__)
    assert len(result.losses) == 10 and result.frames.shape == (5, 32, 32, 3)
    assert torch.equal(result.frames[0], chosen["frame"][0]) and torch.equal(result.frames[-1], result.image[0])


def test_one_start_is_the_plain_sampler(tiny_models):
    """restarts 1 runs no trials; a warm, grey or image
    start is one start whatever restarts says."""
    vqgan, clip = tiny_models
    targets = text_targets(clip, ["storm"])
    plain = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=5, seed=3, restarts=1))
    assert plain.start_scores is None
    with_trials = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=5, seed=3, restarts=2))
    assert len(with_trials.losses) == 5 and with_trials.losses != plain.losses
    warm = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=3, restarts=4), init_latent=plain.latent)
    again = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=3), init_latent=plain.latent)
    assert warm.losses == again.losses and warm.start_scores is None
    grey = sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=3, init="grey", restarts=4))
    assert grey.losses == sample_vqgan_clip(vqgan, clip, targets, _cfg(steps=3, init="grey", restarts=1)).losses
    assert grey.start_scores is None and _cfg(init="grey", restarts=4).total_steps() == 4


@pytest.mark.parametrize("kw,match", [
    (dict(restarts=0), "restarts must be a finite integer in \\[1, 16\\]"),
    (dict(restarts=17), "restarts must be"),
    (dict(restarts=2.5), "restarts must be a finite integer"),
])
def test_bad_restarts(tiny_models, kw, match):
    vqgan, clip = tiny_models
    with pytest.raises(InputError, match=match):
        sample_vqgan_clip(vqgan, clip, text_targets(clip, ["x"]), _cfg(**kw))
