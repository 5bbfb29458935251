"""The toy world: renderer, judge, FSQ, and the shipped models (weights/toyworld)."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from lag_core.models import WEIGHTS_DIR, make_preset, make_vqgan
from lag_core.options import FIDELITY_LR, GENRES
from lag_core.sampler import SamplerConfig, sample_vqgan_clip
from lag_core.toyworld.judge import judge_genre, judge_motif
from lag_core.toyworld.render import RAP_TINT, caption_key, render, render_combo
from lag_core.toyworld.vocab import ALL_FORMS, FILLER, HELDOUT_FORMS, MOTIF_NAMES, TRAIN_FORMS, motif_of_line
from lag_core.vqgan import VQGAN, load_vqgan, save_vqgan
from lag_core.vqgan.config import VQGANConfig

ROOT = Path(__file__).resolve().parent.parent
TOYWORLD_DIR = WEIGHTS_DIR / "toyworld"
shipped = pytest.mark.skipif(not (TOYWORLD_DIR / "clip.safetensors").is_file(), reason="toyworld weights not built")


def test_render_is_deterministic():
    a, cap_a, _ = render(7)
    b, cap_b, _ = render(7)
    assert np.array_equal(a, b) and cap_a == cap_b and a.shape == (64, 64, 3) and a.dtype == np.uint8


@pytest.mark.parametrize("genre", GENRES)
def test_judge_tells_genre_and_motif_on_every_combination(genre):
    """Fresh renders (seeds the judge's centroids never saw) of every motif in this genre."""
    for motif in MOTIF_NAMES:
        imgs = [render_combo(genre, motif, 700_000 + s) for s in range(12)]
        assert np.mean([judge_genre(i) == genre for i in imgs]) >= 0.95, motif
        assert np.mean([judge_motif(i) == motif for i in imgs]) >= 0.95, motif


def test_judge_finds_no_motif_in_a_plain_grey_picture():
    assert judge_motif(np.full((64, 64, 3), 120, np.uint8)) is None


def test_judge_calls_a_partly_teal_background_rap_and_never_a_motif():
    """A sampler may draw rap's teal over part of the grey it started from: a background a third
    teal is rap, a tenth is not; pale or dark teal is teal; shapes of a colour next to teal (sea
    green, steel blue, between the forest and ocean motifs) are not; teal is never a motif colour."""
    from lag_core.toyworld.render import draw, genre_scene

    pop = render_combo("pop", "fire", 5)
    for rows, genre in [(24, "rap"), (6, "pop")]:
        img = pop.copy()
        img[:rows] = RAP_TINT  # the top rows: background (and any shape there) turned teal
        assert judge_genre(img) == genre, rows
    for rgb in [(80, 150, 140), (10, 60, 60)]:  # pale, dark
        assert judge_genre(np.full((64, 64, 3), rgb, np.uint8)) == "rap", rgb
    for rgb in [(45, 164, 126), (40, 150, 110), (30, 120, 180), (20, 110, 160)]:
        for seed in range(10):
            rng = np.random.default_rng(seed)
            scene = genre_scene("pop", "ocean", rng)
            for shape in scene.shapes:
                shape.rgb = rgb
            assert judge_genre(draw(scene, rng)) == "pop", (rgb, seed)
    assert judge_motif(np.full((64, 64, 3), RAP_TINT, np.uint8)) is None


def test_lyric_captions_come_with_every_genre_background_as_often():
    """Plain scenes are drawn on rap's teal a quarter of the time (else on a hue-free grey), so that
    a lyric line's words come with teal about as often as rap's share of the genres: the words alone
    pull towards no genre's background (with all-grey plain scenes: 13% teal)."""
    from lag_core.toyworld.render import PLAIN_TEAL_SHARE, plain_scene

    def is_teal(scene):
        return scene.bg_top[1] - scene.bg_top[0] > 100

    scenes = [plain_scene("fire", np.random.default_rng(s)) for s in range(400)]
    teal = [sc for sc in scenes if is_teal(sc)]
    assert all(sc.bg_top == sc.bg_bottom and abs(sc.bg_top[1] - RAP_TINT[1]) <= 10 for sc in teal)
    assert all(len(set(sc.bg_top)) == 1 and len(set(sc.bg_bottom)) == 1 for sc in scenes if not is_teal(sc))
    assert abs(len(teal) / len(scenes) - PLAIN_TEAL_SHARE) < 0.06, len(teal)
    with_lines = [sc for cap, sc in (render(s)[1:] for s in range(2000)) if caption_key(cap)[1] is None]
    share = np.mean([is_teal(sc) for sc in with_lines])
    assert 0.2 <= share <= 0.3, share


def test_vocabulary_has_eight_motifs_with_three_forms_and_a_held_out_form():
    assert len(MOTIF_NAMES) >= 8
    assert all(len(TRAIN_FORMS[m]) >= 3 and HELDOUT_FORMS[m] for m in MOTIF_NAMES)
    forms = [w for m in MOTIF_NAMES for w in ALL_FORMS[m]]
    assert len(forms) == len(set(forms)) and not set(forms) & set(FILLER)


def test_common_filler_words_name_no_motif_and_no_genre():
    """The tokenizer's common words used as filler: as many as asked, one token each, and never a
    motif form or a word of a genre phrase (each caption still names one motif at most)."""
    from open_clip.tokenizer import SimpleTokenizer

    from lag_core.toyworld.vocab import COMMON_WORDS, FORM_TO_MOTIF, GENRE_PHRASES, common_words

    words = common_words()
    genre_words = {w for phrases in GENRE_PHRASES.values() for p in phrases for w in p.split()}
    assert len(words) == COMMON_WORDS
    assert not set(words) & (set(FORM_TO_MOTIF) | genre_words)
    tokenizer = SimpleTokenizer()
    assert all(len(tokenizer.encode(w)) == 1 for w in words)
    assert {"us", "when", "somewhere"} <= set(words)  # words of held-out lines that no caption had before


def test_captions_are_lines_with_a_motif_word_or_genre_phrases():
    keys = []
    for s in range(300):
        _, cap, scene = render(s)
        motif, genre = caption_key(cap)
        assert (motif, genre) != (None, None), cap
        assert motif in (None, scene.motif) and genre in (None, scene.genre), (cap, scene.motif, scene.genre)
        keys.append((motif, genre, len(cap.split())))
    assert any(m and n >= 4 for m, _, n in keys)  # the word inside a sentence
    assert any(g for _, g, _ in keys) and any(m and not g for m, g, _ in keys)


def test_genre_phrases_are_false_of_plain_scenes_only_where_the_background_is_not_the_genres():
    """A plain scene may look like a genre (light grey with circles: pop), so the CLIP's loss leaves
    (plain scene, that genre's phrase) out instead of teaching that the phrase is false of it. Where
    the background cannot be the genre's (any grey for rap, teal for pop), the phrase is false."""
    from lag_core.toyworld.render import Scene, could_be, genre_scene
    from lag_core.toyworld.train import caption_truth

    light, teal, mid = (185.0,) * 3, tuple(map(float, RAP_TINT)), (100.0,) * 3
    scenes = [Scene(light, light, 0.0, "fire", genre="pop"), Scene(light, light, 0.0, "fire"), Scene(teal, teal, 0.0, "ocean"),
              Scene(mid, mid, 0.0, "ocean"), Scene((160.0,) * 3, (100.0,) * 3, 0.0, "ocean")]
    true, known = caption_truth(["pop music", "the fire burning", "rap style", "metal music", "rnb music"], scenes)
    assert not true[1:, [0, 2, 3, 4]].any() and true[:2, 1].all() and not true[2:, 1].any() and true[0, 0]
    assert known.tolist() == [[True] * 5,
                              [False, True, True, True, True],  # light grey: could be pop, is no rap, metal or rnb
                              [True, True, False, True, True],  # teal: could be rap alone
                              [True, True, True, True, True],  # a flat grey 100: no genre's (rnb's is a gradient)
                              [True, True, True, True, False]]  # 160 -> 100: could be rnb's gradient
    with pytest.raises(ValueError, match="unknown genre"):
        could_be(scenes[1], "jazz")
    # every genre's own scenes could be it, and only it
    for seed in range(200):
        rng = np.random.default_rng(seed)
        genre = GENRES[seed % 4]
        scene = genre_scene(genre, "fire", rng)
        assert [could_be(scene, g, margin=0) for g in GENRES] == [g == genre for g in GENRES], (genre, scene.bg_top)


def test_sample_has_every_genre_and_motif_twice_with_audio():
    from lag_core.data.dataset import open_dataset

    ds = open_dataset("sample")
    combos = {}
    for i, e in enumerate(ds.entries):
        motif = motif_of_line(e.lyrics)
        assert motif is not None and ds.audio_path(i) is not None, e.lyrics
        words = [w for w in e.lyrics.lower().split() if motif_of_line(w)]
        assert len(words) == 1 and words[0] in TRAIN_FORMS[motif], e.lyrics  # one motif word, a sample form
        combos[(e.genre, motif)] = combos.get((e.genre, motif), 0) + 1
    assert combos == {(g, m): 2 for g in GENRES for m in MOTIF_NAMES}


def test_held_out_lines_never_enter_training():
    """The held-out set shares no line, no sentence frame and no audio with the sample (which
    attention trains on) nor with the toy CLIP's caption frames, and most of it uses word forms
    the sample never does."""
    from lag_core.data import sample
    from lag_core.data.dataset import open_dataset
    from lag_core.toyworld.vocab import CAPTION_FRAMES

    train, held = open_dataset("sample"), open_dataset("heldout")
    assert len(held) == len(GENRES) * len(MOTIF_NAMES)
    assert not {e.lyrics.lower() for e in held.entries} & {e.lyrics.lower() for e in train.entries}
    frames = {f.lower() for f in sample.SAMPLE_FRAMES + CAPTION_FRAMES}
    assert not {f.lower() for f in sample.HELDOUT_FRAMES} & frames
    assert not {e.file_name for e in held.entries} & {e.file_name for e in train.entries}
    for a in held.mfcc:
        assert min(float((a - b).abs().mean()) for b in train.mfcc) > 0.1  # other audio
    unseen = [any(w in e.lyrics.lower().split() for m in MOTIF_NAMES for w in HELDOUT_FORMS[m]) for e in held.entries]
    assert np.mean(unseen) >= 0.7
    sample_words = {w for e in train.entries for w in e.lyrics.lower().split()}
    assert not sample_words & {w for m in MOTIF_NAMES for w in HELDOUT_FORMS[m]}


def test_fsq_quantizer_and_file_round_trip(tmp_path):
    cfg = VQGANConfig(quantizer="fsq", fsq_levels=(7, 5, 5, 5), embed_dim=4, n_embed=875, ch=32, ch_mult=(1, 2),
                      num_res_blocks=1, attn_resolutions=(), resolution=32, z_channels=32, norm_groups=8)
    model = VQGAN(cfg).eval()
    q = model.quantize
    codes = torch.randint(cfg.n_embed, (2, 4, 4))
    z = q.lookup(codes)
    assert torch.equal(q.codes(z), codes)
    values = q(z)
    assert values.shape == (2, 4, 4, 4) and values.abs().max() <= 1
    grid = values * q.half_width
    assert torch.allclose(grid, grid.round(), atol=1e-5)
    zz = torch.randn(1, 4, 4, 4, requires_grad=True)
    q(zz).sum().backward()
    assert zz.grad.abs().sum() > 0  # straight-through rounding
    lo, hi = model.codebook_range()
    assert torch.all(q.codes(hi.expand(1, 4, 2, 2)) == q.codes(hi.expand(1, 4, 2, 2) * 3))  # saturated at the edge
    path = save_vqgan(model, tmp_path / "fsq.safetensors")
    again = load_vqgan(path)
    assert again.cfg == cfg
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


@shipped
def test_shipped_files_are_small_and_fp16():
    from lag_core.safeload import read_weights

    total = sum(p.stat().st_size for p in TOYWORLD_DIR.glob("*.safetensors"))
    total += sum(p.stat().st_size for p in (ROOT / "weights" / "attention").glob("toyworld_*.safetensors"))
    assert total <= 25 * 2**20
    for name in ("clip.safetensors", "vqgan.safetensors"):
        state, meta = read_weights(TOYWORLD_DIR / name)
        assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
        assert meta["lag_format"] in ("clip", "vqgan")


@shipped
def test_shipped_clip_zero_shot():
    """Genre and motif of fresh renders of every combination, the motif also by held-out word forms
    (alone and inside a sentence)."""
    from lag_core.toyworld.train import eval_clip_zero_shot

    _, clip = make_preset("toyworld")
    acc = eval_clip_zero_shot(clip, n=128, seed=123)
    assert acc["genre"] >= 0.75, acc  # measured 100% with this seed (the tenth round's CLIP, shipped since the eleventh; the seventh's 88%)
    assert acc["motif"] >= 0.9, acc  # measured 100% with this seed (tenth round; the seventh 100%, the sixth 92%)
    assert acc["motif_heldout_forms"] >= 0.8, acc
    assert acc["motif_in_line"] >= 0.8, acc


@shipped
def test_shipped_autoencoder_psnr():
    from lag_core.toyworld.train import eval_vqgan_psnr

    vqgan, _ = make_preset("toyworld")
    assert eval_vqgan_psnr(vqgan, n=128, seed=321) >= 20.0


# Measured 2026-12-07 (eleventh round: the tenth round's CLIP, the attention at genre weights 0.2 / 0.4,
# the fidelity benchmark's lr) on this machine kind, these exact settings (condition (c), 60 steps, 8
# cutouts, the default 4 starts, seeds 0-7): the metal fire line gives metal + fire with all 8; the pop
# ocean line gives ocean with 5 (blood with seeds 0, 3, 6) and pop + ocean with 3 (seeds 1, 5, 7; rnb with
# 2, rap with 4). At lr 0.15: metal + fire 8 of 8; ocean 5, pop + ocean 2. The eighth round gave 7 / 6, and
# 8 / 8: pop + ocean is this world's weak pair (its (c) misses in docs/fidelity.md). One seed sits on a
# knife edge, and a different CPU rounds differently, so the test counts over 8 seeds two under what was
# measured. The untrained attention (the genre prompt) gives the pop line ocean 0 of 8, which fails its
# motif count; the metal prompt alone draws fire (8 of 8), so the metal line checks the genre and motif
# hold, not that the words brought the fire.
SEEDS = range(8)


@shipped
@pytest.mark.parametrize("name,min_both,min_motif", [("heldout_metal_0", 6, 6), ("heldout_pop_1", 1, 3)])
def test_held_out_lines_give_their_genre_and_motif(name, min_both, min_motif):
    """A metal line with a fire word and a pop line with an ocean word, through the shipped
    attention with genre and audio (condition (c)), 60 steps, 8 cutouts, the default starts: the judge finds the motif
    on at least `min_motif` of 8 seeds, and genre and motif together on at least `min_both`."""
    from lag_core.data.dataset import open_dataset
    from lag_core.models import make_attention
    from lag_core.song import song_from_entry, song_targets

    vqgan, clip = make_preset("toyworld")
    loaded = make_attention("toyworld", clip)
    ds = open_dataset("heldout")
    i = ds.index_of(name)
    entry = ds.entries[i]
    motif = motif_of_line(entry.lyrics)
    assert (entry.genre, motif) in {("metal", "fire"), ("pop", "ocean")}
    targets = song_targets(song_from_entry(ds, i), loaded, clip).targets
    verdicts = []
    for seed in SEEDS:
        cfg = SamplerConfig(width=64, height=64, steps=60, seed=seed, cutn=8, lr=FIDELITY_LR)
        pixels = sample_vqgan_clip(vqgan, clip, targets, cfg).image[0].numpy()
        verdicts.append((judge_genre(pixels), judge_motif(pixels)))
    assert sum(m == motif for _, m in verdicts) >= min_motif, verdicts
    assert sum(v == (entry.genre, motif) for v in verdicts) >= min_both, verdicts


@shipped
def test_demo_image_has_the_entry_genre_and_motif(tmp_path, lag_cli):
    """Runs the exact `lag generate` line of `make demo` and judges the picture."""
    block = (ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]  # the demo recipe only
    recipe = [line.strip() for line in block.splitlines() if "lag generate" in line or line.strip().startswith("--")]
    args = shlex.split(" ".join(recipe).replace("\\", " "))
    args = args[args.index("generate"):]
    entry = args[args.index("--entry") + 1]
    out = tmp_path / "demo.png"
    args[args.index("--out") + 1] = str(out)
    lag_cli(*args, check=True)
    from lag_core.data.dataset import open_dataset
    from lag_core.imageio import load_image

    ds = open_dataset(None)
    e = ds.entries[ds.index_of(entry.split(":", 1)[1])]
    pixels = load_image(out).permute(1, 2, 0).numpy()
    assert (judge_genre(pixels), judge_motif(pixels)) == (e.genre, motif_of_line(e.lyrics))


def test_reference_renders_for_attention_training(tmp_path, lag_cli):
    out = tmp_path / "refs"
    (out / "stale").mkdir(parents=True)  # not a references folder of ours: never replaced
    assert "will not replace it" in lag_cli("toyworld", "references", out, "--per-genre", "3").stderr
    (out / "stale").rmdir()
    (out / "metal").mkdir()
    (out / "metal" / "999.png").write_bytes(b"")  # an earlier run of ours: replaced whole, never merged
    proc = lag_cli("toyworld", "references", out, "--per-genre", "3", check=True)
    assert '"images": 12' in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(GENRES)
    from lag_core.imageio import load_image

    for genre in GENRES:
        files = sorted((out / genre).glob("*.png"))
        assert len(files) == 3
        assert all(judge_genre(load_image(f).permute(1, 2, 0).numpy()) == genre for f in files)
    assert [p.name for p in tmp_path.iterdir()] == ["refs"]  # no temporary folder left beside it


def test_sampler_views_replace_the_asked_share():
    from lag_core.toyworld.data import batch
    from lag_core.toyworld.train import sampler_views

    images, _ = batch(range(16))
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(sampler_views(images, 0.0, gen), images)
    views = sampler_views(images, 1.0, gen)
    assert views.shape == images.shape and 0 <= views.min() and views.max() <= 1
    changed = [(v - x).abs().mean() > 0.01 for v, x in zip(views, images)]
    assert all(changed)
    assert torch.equal(images, batch(range(16))[0])  # the input is not modified


def test_train_toy_clip_writes_a_loadable_model(tmp_path):
    from lag_core.models import make_clip
    from lag_core.toyworld.train import train_toy_clip

    out = tmp_path / "clip.safetensors"
    info = train_toy_clip(out, batch_size=8, max_steps=2, views=0.5)
    assert info["steps"] == 2 and np.isfinite(info["loss_last"])
    clip = make_clip(str(out))
    assert clip.model_id == info["model_id"] and clip.model_id.startswith("lag-toyworld-clip:")
    again = tmp_path / "again.safetensors"
    train_toy_clip(again, batch_size=8, max_steps=1, lr=1e-12, init=out, seed=1)  # continued: starts from `out`
    a, b = clip.model.state_dict(), make_clip(str(again)).model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-3) for k in a)


def test_train_toy_vqgan_fine_tunes_from_init(tmp_path):
    from lag_core.errors import WeightsError
    from lag_core.toyworld.train import train_toy_vqgan

    first = tmp_path / "a.safetensors"
    train_toy_vqgan(first, max_steps=2)
    tuned = tmp_path / "b.safetensors"
    train_toy_vqgan(tuned, max_steps=1, lr=1e-12, init=first)  # a step this small leaves the weights as loaded
    a, b = load_vqgan(first).state_dict(), load_vqgan(tuned).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-3) for k in a)
    train_toy_vqgan(tuned, max_steps=1, lr=1e-12, seed=5)  # from scratch: other weights
    assert not all(torch.allclose(a[k], v, atol=1e-3) for k, v in load_vqgan(tuned).state_dict().items())
    save_vqgan(make_vqgan("tiny"), tmp_path / "tiny.safetensors")
    with pytest.raises(WeightsError, match="not a toy-world autoencoder"):
        train_toy_vqgan(tmp_path / "c.safetensors", max_steps=1, init=tmp_path / "tiny.safetensors")
    assert not (tmp_path / "c.safetensors").exists()


def test_train_clip_refuses_a_views_share_outside_0_1(tmp_path, lag_cli):
    proc = lag_cli("toyworld", "train-clip", "--out", tmp_path / "c.safetensors", "--views", 2, "--steps", 1)
    assert proc.returncode != 0
    assert "--views" in proc.stderr and "found 2" in proc.stderr and "Traceback" not in proc.stderr


@shipped
def test_fidelity_command_writes_table_grid_and_rows(tmp_path, lag_cli):
    import json

    proc = lag_cli("eval", "fidelity", "--limit", 2, "--steps", 2, "--seeds", 0, "--conditions", "de", "--init", "noise",
                   "--lr", 0.3, "--out", tmp_path, "--json", check=True)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["init"] == "noise" and summary["seeds"] == [0] and summary["steps"] == 2
    assert summary["lr"] == 0.3 and "lr 0.3," in (tmp_path / "fidelity.txt").read_text()
    assert "(a)" not in proc.stdout  # JSON only
    assert set(summary["accuracy"]) == {"a", "b", "c", "d", "e"}
    assert summary["accuracy"]["a"]["genre"] is None and summary["per_genre"]["c"]["rap"]["motif"] is None  # not run
    assert set(summary["top_token_is_motif_word"]) == {"mha", "bahdanau"}
    report = json.loads((tmp_path / "fidelity.json").read_text())
    rows = report["rows"]
    assert sorted((r["entry"], r["condition"]) for r in rows) == [(0, "d"), (0, "e"), (1, "d"), (1, "e")]
    assert all(r["judged_genre"] in GENRES and r["hit_genre"] == (r["judged_genre"] == r["genre"]) for r in rows)
    assert all(r["hit_both"] == (r["hit_genre"] and r["hit_motif"]) for r in rows)
    assert {r["file_name"] for r in rows} <= {e for e in ("heldout_metal_0", "heldout_metal_1")}  # the held-out set
    assert "top token = motif word (bahdanau)" in (tmp_path / "fidelity.txt").read_text()
    from PIL import Image

    grid = Image.open(tmp_path / "fidelity_grid.png")
    assert grid.width > 2 * 64 and grid.height > 2 * 64


def test_fidelity_refuses_unknown_conditions(tmp_path, lag_cli):
    proc = lag_cli("eval", "fidelity", "--conditions", "abz", "--out", tmp_path)
    assert proc.returncode != 0 and "--conditions" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("option,value,named", [("--lr", "0", "learning rate"), ("--lr", "nan", "learning rate"),
                                                ("--steps", "0", "steps"), ("--cutn", "0", "cutn")])
def test_fidelity_refuses_bad_sampler_settings(tmp_path, lag_cli, option, value, named):
    proc = lag_cli("eval", "fidelity", option, value, "--out", tmp_path / "out")
    assert proc.returncode != 0 and named in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@shipped
def test_run_fidelity_checks_every_seed_before_the_first_picture():
    """A bad second seed is refused before the first seed's picture is made, not after it."""
    from lag_core.data.dataset import LAGDataset, open_dataset
    from lag_core.errors import InputError
    from lag_core.models import make_attention
    from lag_core.toyworld.fidelity import run_fidelity

    vqgan, clip = make_preset("toyworld")
    ds = open_dataset("heldout")
    one = LAGDataset(ds.root, ds.entries[:1], ds.mfcc[:1])
    pictures = []
    with pytest.raises(InputError, match="seed"):
        run_fidelity(vqgan, clip, make_attention("toyworld", clip), one, steps=1, seeds=(0, -1), conditions="b",
                     callback=lambda *a: pictures.append(a))
    assert pictures == []
    with pytest.raises(InputError, match="at least one seed"):
        run_fidelity(vqgan, clip, make_attention("toyworld", clip), one, seeds=iter(()), conditions="b")
