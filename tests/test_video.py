"""A song as a music video: lyrics timing, song plan, reactivity, warm start, render, resume, MP4, CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from lag_core.errors import InputError
from lag_core.options import SamplerConfig, VideoConfig
from lag_core.video.lyrics import parse_lrc, timed_lines

ROOT = Path(__file__).resolve().parent.parent
SONG = ROOT / "lag_core" / "data" / "songs" / "fire_and_ocean.ogg"
SONG_LRC = ROOT / "lag_core" / "data" / "songs" / "fire_and_ocean.lrc"
SR = 22050


# --- lyrics -------------------------------------------------------------------------------------------

def test_lrc_with_bom_tags_offset_repeats_and_word_stamps():
    text = ("\ufeff[ar:Someone]\n[ti:A Song]\n[offset:+500]\n[genre:metal]\n[00:01.50]first <00:01.60>line\n"
            "[00:10.00][00:30.25]the chorus\n[genre:pop]\n[00:20]second: verse\n[00:25.5]\n")
    lines = parse_lrc(text)
    assert [(round(x.time, 3), x.text, x.genre) for x in lines] == [
        (1.0, "first line", "metal"), (9.5, "the chorus", "metal"), (19.5, "second: verse", "pop"),
        (25.0, "", "pop"), (29.75, "the chorus", "metal")]


@pytest.mark.parametrize("text, says", [
    ("[00:01.00]a\n[0x:02.00]b\n", "line 2: malformed time stamp '[0x:02.00]'"),
    ("[00:01.00]a\n[00:75.00]b\n", "line 2: malformed time stamp '[00:75.00]'"),
    ("[00:05.00]a\n[00:02.00]b\n", "line 2: out-of-order time stamp [00:02.00]"),
    ("[00:05.00]a\n[00:05.00]b\n", "line 2: duplicate time stamp"),
    ("[00:05.00][00:09.00]a\n[00:07.00][00:09.00]b\n", "duplicate time stamp [00:09.00]"),
    ("[00:05.00]a\nno stamp here\n", "line 2: 'no stamp here' has no time stamp"),
    ("[00:01.00]\n[00:02.00]\n", "no lyric lines with words"),
    ("[genre:polka]\n[00:01.00]a\n", "unknown genre 'polka'"),
    # Found by a hostile tester: stamps meant as stamps are refused, not sung as words
    ("[-1:00]a\n", "line 1: malformed time stamp '[-1:00]'"),
    ("[00:01.1234]a\n", "line 1: malformed time stamp '[00:01.1234]'"),
    ("[" + "9" * 400 + ":00]a\n", "line 1: malformed time stamp '[" + "9" * 19 + "...'"),
    ("[ti:x]\n[ar:y]\n", "no lyric lines with words"),
    ("[offset:+5000]\n[00:01]a\n[00:02]b\n", "[offset:+5000] moves the stamps [00:01.00] and [00:02.00] to or before the start"),
    ("[offset:+1000]\n[00:00.00]a\n[00:01.00]b\n", "[offset:+1000] moves the stamps [00:00.00] and [00:01.00] to or before"),
    ("[Intro]\n[00:01.00]a\n[Chorus]\n[00:01.00]b\n", "line 4: duplicate time stamp [00:01.00]"),  # headers skipped
])
def test_bad_lrc_is_one_line(text, says):
    with pytest.raises(InputError) as err:
        timed_lines(text, 60.0)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_stamp_past_the_end_and_empty_lyrics_are_refused():
    with pytest.raises(InputError, match=r"\[01:05.00\] \('late'\) is past the end of the audio \(\[00:40.00\]\)"):
        timed_lines("[00:01.00]a\n[01:05.00]late\n", 40.0)
    with pytest.raises(InputError, match="empty"):
        timed_lines(" \n\ufeff\n", 40.0)


def test_plain_lines_spread_over_the_song():
    lines = timed_lines("[Verse 1]\none\n\n two  words \n[Chorus: Someone]\nthree\n", 30.0)  # headers are not sung
    assert [(x.time, x.text) for x in lines] == [(0.0, "one"), (10.0, "two words"), (20.0, "three")]


def test_lyrics_checked_before_the_song_is_known_and_absurd_ones_refused():
    from lag_core.video.lyrics import MAX_CHARS, check_lyrics

    assert [x.text for x in check_lyrics("first line\nsecond line\n")] == ["first line", "second line"]  # the node's check
    with pytest.raises(InputError, match="not lyrics"):
        check_lyrics("la\n" * (MAX_CHARS // 3 + 1))
    with pytest.raises(InputError, match="30 plain lines for 10.0 s of audio, more than two a second"):
        timed_lines("la\n" * 30, 10.0)


# --- plan ---------------------------------------------------------------------------------------------

def test_plan_segments_follow_lyrics_and_mfcc_windows_are_lags():
    from lag_core.audio.mfcc import mfcc_lag
    from lag_core.video.plan import plan_song, segment_mfccs, segment_windows

    mono = torch.randn(SR * 25) * 0.1
    plan = plan_song(mono, "[genre:rap]\n[00:02.00]hello there\n[00:12.00]\n[00:20.00]bye now\n")
    assert [(s.start, s.end, s.lyrics, s.genre) for s in plan.segments] == [
        (0.0, 12.0, "hello there", "rap"), (12.0, 20.0, "hello there", "rap"), (20.0, 25.0, "bye now", "rap")]
    windows = segment_windows(plan)
    assert windows.shape == (3, SR * 10)
    centre = int(6.0 * SR)  # the first segment's window is 1 s..11 s
    assert torch.equal(windows[0], mono[centre - 5 * SR: centre + 5 * SR])
    last = windows[2]  # centred at 22.5 s: 17.5 s..27.5 s, the last 2.5 s padded with zeros
    assert torch.equal(last[: int(7.5 * SR)], mono[int(17.5 * SR):]) and not last[int(7.5 * SR):].any()
    assert torch.allclose(segment_mfccs(plan)[1], mfcc_lag(windows[1:2])[0])
    assert torch.equal(segment_windows(plan, [2, 1]), windows[[2, 1]])  # a few at a time: the same windows

    def padded_song_windows(plan):  # the reference: the whole song zero-padded by 5 s each side, then sliced
        padded = torch.nn.functional.pad(plan.mono, (5 * SR, 5 * SR))
        return torch.stack([padded[round((s.start + s.end) / 2 * SR):][: 10 * SR] for s in plan.segments])

    for seconds, lyrics in ((25, "[00:00.00]a\n[00:02.00]b\n[00:24.90]c\n"), (3, "[00:00.00]a\n[00:01.00]b\n"), (10, None)):
        song = plan_song(torch.randn(seconds * SR), lyrics)  # windows at the very start and end, and songs under 10 s
        assert torch.equal(segment_windows(song), padded_song_windows(song)), seconds
    assert plan_song(mono, None, "pop").segments[0].genre == "pop"
    assert [s.lyrics for s in plan_song(mono).segments] == ["music"] * 2  # no lyrics: LAG's 10 s windows


# --- reactivity ---------------------------------------------------------------------------------------

def test_onset_strength_finds_clicks_and_drive_has_mean_one():
    from lag_core.video.reactive import drive, frame_features

    mono = torch.zeros(SR * 4)
    for t in (0.5, 1.5, 2.5, 3.5):  # clicks at the middle of every other half-second frame
        mono[int(t * SR): int(t * SR) + 400] = torch.randn(400)
    times = torch.arange(8) / 2.0
    onset, rms = frame_features(mono, times, 2.0)
    assert onset[1::2].min() > 5 * onset[0::2].max() and rms[1::2].min() > 5 * rms[0::2].max()
    for feature in (onset, rms):
        d = drive(feature, 1.0)
        assert abs(float(d.mean()) - 1) < 0.05 and d[1::2].min() > d[0::2].max()
        assert torch.equal(drive(feature, 0.0), torch.ones(8))
        half = drive(feature, 0.5)
        assert torch.allclose(half, 0.5 + 0.5 * d, atol=0.03)


# --- warm start ---------------------------------------------------------------------------------------

def test_warm_start_continues_from_the_latent(tiny_models):
    from lag_core.prompts import text_targets
    from lag_core.sampler import sample_vqgan_clip

    vqgan, clip = tiny_models
    targets = text_targets(clip, ["a red sun"])
    cfg = SamplerConfig(width=32, height=32, steps=3, cutn=4, seed=1)
    first = sample_vqgan_clip(vqgan, clip, targets, cfg)
    warm = sample_vqgan_clip(vqgan, clip, targets, SamplerConfig(width=32, height=32, steps=1, cutn=4, seed=2, lr=0.01),
                             init_latent=first.latent)
    cold = sample_vqgan_clip(vqgan, clip, targets, SamplerConfig(width=32, height=32, steps=1, cutn=4, seed=2, lr=0.01))
    near = (warm.latent - first.latent).abs().mean()
    assert near < 0.2 * (cold.latent - first.latent).abs().mean()
    with pytest.raises(InputError, match=r"initial latent must be \[1, .*, 4, 4\]"):
        sample_vqgan_clip(vqgan, clip, targets, cfg, init_latent=torch.zeros(1, 3, 5, 5))


# --- render, resume -----------------------------------------------------------------------------------

def _tiny_render(tiny_models, store=None, callback=None, inbetween=1, scene_cut=1.0):
    from lag_core.models import make_attention
    from lag_core.video.plan import plan_song
    from lag_core.video.render import render_video, segment_conditionings

    vqgan, clip = tiny_models
    mono = torch.from_numpy(sf.read(str(SONG), dtype="float32")[0])
    plan = plan_song(mono, SONG_LRC.read_text(encoding="utf-8-sig"))
    conds = segment_conditionings(plan, make_attention("tiny", clip), clip)
    cfg = SamplerConfig(width=32, height=32, steps=2, cutn=4, seed=0, deterministic=True)
    video = VideoConfig(fps=2.0, steps_per_frame=1, inbetween=inbetween, start=9.0, duration=3.0, zoom=0.2, reactivity=0.5,
                        scene_cut=scene_cut)  # 1: the boundary at 10 s starts a scene (a resume makes its latent again)
    return vqgan, render_video(vqgan, clip, plan, conds, cfg, video, store=store, callback=callback)


def test_render_frames_keys_inbetweens_and_segments(tiny_models, tmp_path):
    from lag_core.sampler import render_latent
    from lag_core.video.store import FrameStore

    store = FrameStore(tmp_path / "frames", {}).open()
    vqgan, out = _tiny_render(tiny_models, store)
    assert out.frames.shape == (6, 32, 32, 3) and out.keys == [0, 2, 4, 5]
    assert out.segments == [1, 1, 2, 2, 2, 2]  # 9 s .. 11.5 s: the boundary at 10 s
    assert out.optimised == 4 and out.interpolated == 2 and out.resumed == 0
    assert out.frames.std(0).mean() > 0  # frames differ
    between = render_latent(vqgan, torch.lerp(store.latent(0), store.latent(2), 0.5))  # frame 1: decode only
    assert (between[0] - out.frames[1]).abs().max() < 1e-3, (between[0] - out.frames[1]).abs().max()
    assert sorted(p.name for p in store.folder.glob("latent_*")) == [f"latent_00000{k}.safetensors" for k in (0, 2, 4, 5)]


def test_killed_render_resumes_to_the_same_frames(tiny_models, tmp_path):
    from lag_core.video.store import FrameStore

    settings = {"case": "resume"}
    _, whole = _tiny_render(tiny_models, FrameStore(tmp_path / "a", settings).open())
    calls = []

    def kill_after_two(frame, total, info):
        if "image" in info:  # a frame made (calls within a cold start carry no image)
            calls.append(frame)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _tiny_render(tiny_models, FrameStore(tmp_path / "b", settings).open(), callback=kill_after_two)
    assert sorted(p.name for p in (tmp_path / "b").glob("frame_*")) == [f"frame_00000{i}.png" for i in range(3)]
    assert not list((tmp_path / "b").glob(".*.tmp"))
    _, resumed = _tiny_render(tiny_models, FrameStore(tmp_path / "b", settings).open())
    assert resumed.resumed == 3 and resumed.optimised == 2
    for a in sorted((tmp_path / "a").glob("frame_*")):
        assert a.read_bytes() == (tmp_path / "b" / a.name).read_bytes(), a.name
    with pytest.raises(InputError, match=r"made with other settings \(differing: case\)"):
        FrameStore(tmp_path / "b", {"case": "other"}).open()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not empty and has no settings.json"):
        FrameStore(tmp_path / "c", settings).open()


def test_cancel_stops_a_cold_start_within_a_step(tiny_models, tmp_path, monkeypatch):
    """The first frame and a new scene's latent are cold starts (many steps): a Cancel (the callback
    raising) stops them after a step, not after the whole start, and nothing half-made is stored."""
    from lag_core.video import render
    from lag_core.video.store import FrameStore

    monkeypatch.setattr(render, "SAME_LOOK", 2.0)  # no scene reuses a look: the one at 10 s is a cold start

    seen = []

    def record(frame, total, info):
        seen.append(("image" in info, frame, total))

    _tiny_render(tiny_models, callback=record)
    first_image = [has for has, _, _ in seen].index(True)
    assert first_image >= 2 and all(frame == 0 and total == 6 for _, frame, total in seen[:first_image])
    frames = [frame for has, frame, _ in seen if has]
    assert frames == sorted(frames)  # the count never goes back
    assert not all(has for has, _, _ in seen[first_image:])  # the scene starting at 10 s: a cold start too

    def cancel(frame, total, info):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _tiny_render(tiny_models, FrameStore(tmp_path / "f", {}).open(), callback=cancel)
    assert not list((tmp_path / "f").glob("frame_*")) and not list((tmp_path / "f").glob("latent_*"))


def test_scene_starts_and_their_dissolve_weights():
    from lag_core.video.plan import Segment, SongPlan
    from lag_core.video.render import scene_blend, scene_sources, scene_starts

    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    conds = torch.stack([a, a, torch.nn.functional.normalize(a + 0.2 * b, dim=0), b])  # cosines 1, 0.98, 0.20
    assert scene_starts(conds, 0.5) == [3] and scene_starts(conds, 0.99) == [2, 3] and scene_starts(conds, -1.0) == []
    # A return: ocean, sun, ocean again (the bundled song's chorus). The third is near the sun line
    # (0.69, above the cut), nearer the scene that began with the first (0.94): a new scene.
    ocean, sun = torch.tensor([1.0, 0.0, 0.0]), torch.nn.functional.normalize(torch.tensor([0.48, 0.877, 0.0]), dim=0)
    again = torch.nn.functional.normalize(torch.tensor([0.94, 0.3, 0.16]), dim=0)
    chorus = torch.stack([ocean, sun, again, again])
    cos = chorus @ chorus.T
    assert cos[1, 2] > 0.5 and cos[0, 2] > cos[1, 2] + 0.1
    assert scene_starts(chorus, 0.3) == [2]  # the sun line is no cut at 0.3; the return is, and its repeat is not
    assert scene_starts(chorus, 0.5) == [1, 2] and scene_starts(chorus, -1.0) == []
    assert scene_starts(torch.stack([ocean, sun, ocean]), 0.0) == [2]  # back to the first scene (segment 0)
    # A scene that comes back to a look made before reuses it (0.94 >= SAME_LOOK); the sun line's is new.
    assert scene_sources(chorus, [2]) == {2: 0} and scene_sources(chorus, [1, 2]) == {2: 0}
    assert scene_sources(torch.stack([a, b, a, b]), [1, 2, 3]) == {2: 0, 3: 1} and scene_sources(conds, [3]) == {}
    plan = SongPlan(mono=torch.zeros(22050 * 8), duration=8.0, segments=[Segment(2.0 * i, 2.0 * i + 2, f"line {i}", None) for i in range(4)])
    assert scene_blend(plan, [3], 4.0, 5.0, 1.0) is None  # before the window (5.5 .. 6.5)
    seg, w = scene_blend(plan, [3], 5.0, 6.0, 1.0)
    assert seg == 3 and w == pytest.approx(0.5)  # the boundary: half way (smoothstep of 0.5)
    assert scene_blend(plan, [3], 6.25, 6.5, 1.0) == (3, 1.0)  # the window's end: the new scene
    assert scene_blend(plan, [3], 6.5, 7.0, 1.0) is None  # already in it
    assert scene_blend(plan, [3], 5.0, 7.5, 1.0) == (3, 1.0)  # frames further apart than the window
    assert scene_blend(plan, [3], 5.5, 6.0, 0.0) == (3, 1.0) and scene_blend(plan, [3], 5.0, 5.5, 0.0) is None  # a cut


def test_scene_start_dissolves_into_a_cold_start_of_the_next_segment(tiny_models, tmp_path):
    """Across a boundary that starts a scene, each optimised frame starts from the running latent blended
    into a cold start of the next segment's look (`scene_latent`); with scene_cut -1 it continues the running
    latent."""
    from lag_core.models import make_attention
    from lag_core.video.plan import plan_song
    from lag_core.video.render import render_video, scene_latent, segment_conditionings
    from lag_core.video.store import FrameStore

    vqgan, clip = tiny_models
    mono = torch.from_numpy(sf.read(str(SONG), dtype="float32")[0])
    plan = plan_song(mono, SONG_LRC.read_text(encoding="utf-8-sig"))  # the pop chorus starts at 20 s (segment 4)
    conds = segment_conditionings(plan, make_attention("tiny", clip), clip)
    cfg = SamplerConfig(width=32, height=32, steps=3, cutn=4, seed=0, lr=0.05, deterministic=True)
    scene = scene_latent(vqgan, clip, conds, 4, cfg)  # made here on its own: the render must make the same one
    latents = {}
    for cut in (1.0, -1.0):
        video = VideoConfig(fps=4.0, steps_per_frame=1, start=19.25, duration=1.5, transition=1.0, scene_cut=cut)
        store = FrameStore(tmp_path / str(cut), {}).open()
        render_video(vqgan, clip, plan, conds, cfg, video, store=store)
        latents[cut] = [store.latent(k) for k in range(6)]  # 19.25 .. 20.5 s: the window is 19.5 .. 20.5
    z = latents[1.0]
    step = cfg.lr * 1.001  # one Adam step moves each element by at most lr
    assert (z[1] - z[0]).abs().max() <= step  # 19.5 s: the window's start, weight 0
    assert (z[3] - torch.lerp(z[2], scene, 0.5)).abs().max() <= step  # 20 s: half way into the new scene
    assert (z[5] - scene).abs().max() <= step  # 20.5 s: the new scene, continued
    assert (scene - z[1]).abs().max() > 4 * step  # (the scene's latent is not where the frames were)
    assert (latents[-1.0][5] - latents[-1.0][4]).abs().max() <= step  # without scenes: the running latent
    assert (latents[-1.0][5] - scene).abs().max() > 4 * step


def test_a_returning_chorus_dissolves_into_the_look_it_had(tiny_models, tmp_path):
    """A new scene with an earlier scene's look (segment 6 here has segment 4's conditioning; every other
    segment its own) dissolves into that scene's latent, not into a cold start of its own: a cold start of
    scene 4 when the render began after it, the render's first frame when it began in it."""
    from lag_core.video.plan import plan_song
    from lag_core.video.render import render_video, scene_latent
    from lag_core.video.store import FrameStore

    vqgan, clip = tiny_models
    mono = torch.from_numpy(sf.read(str(SONG), dtype="float32")[0])
    plan = plan_song(mono, SONG_LRC.read_text(encoding="utf-8-sig"))  # segments of 5 s: 6 starts at 30 s
    conds = torch.linalg.qr(torch.randn(clip.embed_dim, 8, generator=torch.Generator().manual_seed(0)))[0].T.contiguous()
    conds[6] = conds[4]  # [8, D]: unit rows, cosine 0 between any two but these
    cfg = SamplerConfig(width=32, height=32, steps=3, cutn=4, seed=0, lr=0.05, deterministic=True)
    step = cfg.lr * 1.001  # one Adam step moves each element by at most lr
    own, chorus = scene_latent(vqgan, clip, conds, 6, cfg), scene_latent(vqgan, clip, conds, 4, cfg)
    assert (own - chorus).abs().max() > 4 * step
    # 29.25: began in segment 5; 20.0, 30.25: on the way into segment 4 and 6 (the first frame is a blend, no
    # scene's look): each makes segment 4's look cold; 20.5: began in segment 4 alone, its first frame is the look
    for start, look in ((29.25, None), (20.0, None), (30.25, None), (20.5, "first")):
        video = VideoConfig(fps=4.0, steps_per_frame=1, start=start, duration=30.5 - start + 0.25, transition=1.0, scene_cut=0.5)
        store = FrameStore(tmp_path / str(start), {}).open()
        render_video(vqgan, clip, plan, conds, cfg, video, store=store)
        last = int((30.5 - start) * 4)  # the frame at 30.5 s: the window (29.5 .. 30.5) ends, the scene's look
        expected = store.latent(0) if look == "first" else chorus
        assert (store.latent(last) - expected).abs().max() <= step, start
        assert (store.latent(last) - own).abs().max() > 4 * step and (expected - own).abs().max() > 4 * step
        if look == "first":
            assert (expected - chorus).abs().max() > 4 * step  # the first frame's latent, not a cold start of 4


# --- MP4 ----------------------------------------------------------------------------------------------

def test_mp4_has_h264_frames_and_the_audio_read_back(tmp_path):
    import av

    from lag_core.audio.io import load_audio
    from lag_core.video.mp4 import write_mp4

    audio = load_audio(SONG)  # decoded by soundfile
    frames = [torch.full((32, 32, 3), i / 10) for i in range(10)]
    out = write_mp4(frames, tmp_path / "v.mp4", 5.0, audio, upscale=2)
    with av.open(str(out)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        assert v.codec_context.name == "h264" and a.codec_context.name == "aac"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 10 and decoded[0].shape == (64, 64, 3)
    assert abs(int(decoded[5].mean()) - 128) <= 3  # frame 5 is 0.5 grey
    with av.open(str(out)) as container:
        rate = container.streams.audio[0].rate
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert rate == 22050 and abs(len(sound) / rate - 2.0) < 0.1  # cut to the video's 2 s
    assert np.abs(sound).max() > 0.1
    assert not list(tmp_path.glob(".*.tmp"))


def test_mp4_audio_at_a_rate_aac_lacks_is_resampled(tmp_path):
    import av

    from lag_core.video.mp4 import write_mp4

    sr = 192000  # AAC has no 192 kHz: FFmpeg refused it after the whole render
    tone = torch.sin(torch.arange(sr) / sr * 2 * torch.pi * 440)[None, None]  # [1, 1, T]: 1 s
    out = write_mp4([np.full((16, 16, 3), 90, np.uint8)] * 4, tmp_path / "v.mp4", 4.0, {"waveform": tone, "sample_rate": sr})
    with av.open(str(out)) as container:
        rate = container.streams.audio[0].rate
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert rate == 48000 and abs(len(sound) / rate - 1.0) < 0.05 and np.abs(sound).max() > 0.5


def test_save_video_node_never_replaces_a_file(tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from packinfo import load_pack

    pack = load_pack()
    node = pack.NODE_CLASS_MAPPINGS["LAGSaveVideo"]()
    monkeypatch.setattr(sys.modules[type(node).__module__], "output_directory", lambda: tmp_path)
    frames = torch.rand(2, 16, 16, 3)
    names = [node.save(frames, 2.0, "a[1]", 1)["ui"]["images"][0]["filename"] for _ in range(2)]
    assert names == ["a[1]_00001.mp4", "a[1]_00002.mp4"]  # "[1]" is a name, not a glob pattern
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    (tmp_path / "sup_\u00b2.mp4").write_bytes(b"x")  # "²" is a digit to isdigit(), not to int()
    assert node.save(frames, 2.0, "sup", 1)["ui"]["images"][0]["filename"] == "sup_00001.mp4"
    for prefix in ("", "lag/"):
        with pytest.raises(ValueError, match="names no file"):  # the pack's own InputError (loaded as a package)
            node.save(frames, 2.0, prefix, 1)


# --- CLI ----------------------------------------------------------------------------------------------

TINY = ["--preset", "tiny", "--size", 32, 32, "--first-steps", 2, "--steps-per-frame", 1, "--cutn", 4, "--device", "cpu"]


def test_lag_video_writes_mp4_with_audio_and_resumes(tmp_path, lag_cli):
    import av

    out = tmp_path / "song.mp4"

    def video_args(fps):
        return ["video", SONG, "--lyrics", SONG_LRC, "--fps", fps, "--duration", 2, "--start", 19, *TINY, "--out", out, "--json"]

    args = video_args(2)
    summary = json.loads(lag_cli(*args, check=True).stdout.strip().splitlines()[-1])
    assert summary["frames"] == 4 and summary["optimised"] == 4 and summary["segments"] == 8
    with av.open(str(out)) as container:
        assert container.streams.audio and sum(1 for _ in container.decode(video=0)) == 4
    proc = lag_cli(*args)  # the MP4 is there: replaced only when asked
    assert proc.returncode == 2 and "exists; pass --force to replace it" in proc.stderr
    again = json.loads(lag_cli(*args, "--force", check=True).stdout.strip().splitlines()[-1])
    assert again["resumed"] == 4 and again["optimised"] == 0
    proc = lag_cli(*video_args(3), "--force")  # other settings, same frames folder
    assert proc.returncode == 2 and "made with other settings (differing: video.fps)" in proc.stderr


def _wav(path, seconds):
    sf.write(str(path), np.zeros(int(seconds * SR), dtype=np.float32) + 0.01, SR)
    return path


@pytest.mark.parametrize("case", ["fps0", "fps_high", "size", "missing_folder", "short_audio", "unreadable_audio",
                                  "bad_lrc", "late_stamp", "empty_lyrics", "read_only", "scene_cut"])
def test_lag_video_bad_input_is_one_line_and_writes_nothing(tmp_path, lag_cli, case):
    import os

    out, song, lrc = tmp_path / "v.mp4", _wav(tmp_path / "s.wav", 5), tmp_path / "l.lrc"
    lrc.write_text("[00:01.00]hello\n")
    extra = []
    expect = {
        "fps0": "fps must be in (0, 60]", "fps_high": "fps must be in (0, 60]", "size": "multiple of the VQGAN",
        "missing_folder": "does not exist", "short_audio": "shorter than one frame", "unreadable_audio": "could not be decoded",
        "bad_lrc": "malformed time stamp", "late_stamp": "past the end of the audio", "empty_lyrics": "is empty",
        "read_only": "is not writable", "scene_cut": "scene cut must be a cosine in [-1, 1]",
    }[case]
    if case == "fps0":
        extra = ["--fps", 0]
    elif case == "fps_high":
        extra = ["--fps", 1000]
    elif case == "size":
        extra = ["--size", 36, 32]
    elif case == "scene_cut":
        extra = ["--scene-cut", 1.5]
    elif case == "missing_folder":
        out = tmp_path / "nowhere" / "v.mp4"
    elif case == "short_audio":
        song = _wav(tmp_path / "s.wav", 0.05)
    elif case == "unreadable_audio":
        song.write_bytes(b"RIFF not really a wave file")
    elif case == "bad_lrc":
        lrc.write_text("[00:01.00]a\n[00:xx]b\n")
    elif case == "late_stamp":
        lrc.write_text("[00:01.00]a\n[00:09.00]b\n")
    elif case == "empty_lyrics":
        lrc.write_text("\n")
    elif case == "read_only":
        if os.geteuid() == 0:  # root writes through permission bits: a read-only mount instead
            out = Path("/sys/lag_test_video.mp4")
            try:
                Path("/sys/lag_probe.tmp").write_bytes(b"")
                Path("/sys/lag_probe.tmp").unlink()
                pytest.skip("no read-only folder here")
            except OSError:
                pass
        else:
            os.chmod(tmp_path, 0o555)
    tiny = [a for a in TINY if str(a) not in ("--size", "32")] if case == "size" else TINY
    try:
        proc = lag_cli("video", song, "--lyrics", lrc, *tiny, *extra, "--out", out)
    finally:
        os.chmod(tmp_path, 0o755)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert not out.exists() and not Path(str(out) + ".frames").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_lag_video_never_replaces_or_deletes_what_it_did_not_make(tmp_path, lag_cli):
    import os

    song, lrc = _wav(tmp_path / "s.wav", 5), tmp_path / "l.lrc"
    lrc.write_text("[00:01.00]hello\n")
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"my wedding video")
    proc = lag_cli("video", song, "--lyrics", lrc, *TINY, "--out", mine)
    assert proc.returncode == 2 and "exists; pass --force" in proc.stderr and mine.read_bytes() == b"my wedding video"
    twin = tmp_path / "song.mp4"  # the song itself, named .mp4, given as the output too: even --force refuses
    twin.write_bytes(song.read_bytes())
    proc = lag_cli("video", twin, *TINY, "--out", twin, "--force")
    assert proc.returncode == 2 and "is also an input of this job" in proc.stderr and twin.read_bytes() == song.read_bytes()
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    proc = lag_cli("video", song, "--lyrics", lrc, *TINY, "--out", fifo, "--force")
    assert proc.returncode == 2 and "is not a regular file" in proc.stderr and not Path(str(fifo) + ".frames").exists()
    proc = lag_cli("video", song, "--lyrics", lrc, *TINY, "--out", tmp_path / "v.mp4", "--frames-dir", tmp_path / "v.mp4")
    assert proc.returncode == 2 and "is the output itself" in proc.stderr and not (tmp_path / "v.mp4").exists()
    project = tmp_path / ".vscode"  # a folder with its own settings.json and temp files, given as --frames-dir
    project.mkdir()
    for name, text in (("settings.json", '{"editor.fontSize": 14}'), (".notes.tmp", "notes"), (".swp.tmp", "swap")):
        (project / name).write_text(text)
    proc = lag_cli("video", song, "--lyrics", lrc, *TINY, "--frames-dir", project, "--out", tmp_path / "v.mp4")
    assert proc.returncode == 2 and "did not write: it is not a frames folder" in proc.stderr, proc.stderr
    assert sorted(p.name for p in project.iterdir()) == [".notes.tmp", ".swp.tmp", "settings.json"]
    assert len(proc.stderr.strip().splitlines()) == 1


def test_damaged_frames_folder_file_is_one_line(tmp_path):
    from lag_core.imageio import save_png
    from lag_core.video.store import FrameStore

    store = FrameStore(tmp_path / "f", {"audio": "x", "video": {"fps": 2}}, frame_size=(8, 8), latent_shape=(1, 4, 2, 2)).open()
    store.save_latent(3, torch.zeros(1, 4, 2, 2))
    assert store.latent(3).shape == (1, 4, 2, 2)
    store.latent_path(3).write_bytes(b"")  # a power loss after the rename
    store.frame_path(4).write_bytes(b"")
    store.save_latent(5, torch.zeros(1, 4, 2, 2, dtype=torch.int64))  # hand-edited: another dtype, another shape
    store.save_latent(6, torch.zeros(1, 16, 2, 2))
    save_png(torch.rand(1, 6, 8, 3), store.frame_path(7))  # a frame of another size
    for load, why in ((lambda: store.latent(3), "latent_000003.safetensors is damaged (not a readable safetensors file)"),
                      (lambda: store.load_frame(4), "frame_000004.png is damaged (not a readable PNG)"),
                      (lambda: store.latent(5), "latent_000005.safetensors is damaged (its dtype is int64, expected a float latent)"),
                      (lambda: store.latent(6), "latent_000006.safetensors is damaged (a latent of shape [1, 16, 2, 2], "
                                                "this render's are [1, 4, 2, 2])"),
                      (lambda: store.load_frame(7), "frame_000007.png is damaged (8x6 pixels, this render's frames are 8x8)")):
        with pytest.raises(InputError) as err:
            load()
        assert str(err.value) == f"frames folder '{store.folder}': {why}; delete that file and re-run to make it again"
    (store.folder / "settings.json").write_text("[" * 100_000 + "]" * 100_000)  # json.loads: RecursionError
    with pytest.raises(InputError, match="did not write"):
        FrameStore(store.folder, {"audio": "x", "video": {"fps": 2}}).open()


def test_lag_video_killed_with_sigkill_continues(tmp_path, lag_cli):
    """A real kill -9 mid-render: every frame kept is whole, and the same command finishes the video."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from PIL import Image

    out = tmp_path / "song.mp4"
    args = ["video", SONG, "--lyrics", SONG_LRC, "--fps", 4, "--duration", 4, "--start", 8, *TINY, "--out", out, "--json"]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "lag"), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    frames = Path(str(out) + ".frames")
    deadline = time.time() + 240
    while not (frames / "frame_000003.png").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    kept = sorted(frames.glob("frame_*.png"))
    assert 4 <= len(kept) < 16 and not out.exists(), "killed too late to test a resume"
    for png in kept:
        with Image.open(png) as im:
            im.load()  # whole files only: each was renamed into place when complete
    summary = json.loads(lag_cli(*args, check=True).stdout.strip().splitlines()[-1])
    assert summary["frames"] == 16 and summary["resumed"] >= len(kept) - 1 and summary["optimised"] < 16
    assert not list(frames.glob(".*.tmp"))


def test_frames_folders_of_one_start_resume_as_before_restarts(tmp_path):
    """A frames folder records the sampler's settings; one written before restarts existed (one start)
    has no `restarts`, and a render with --restarts 1 keeps recording none, so it resumes that folder."""
    from lag_core.data.demo_song import SONG_DIR, SONG_NAME
    from lag_core.options import SamplerConfig
    from lag_core.video.job import VideoJob, frame_settings

    song = SONG_DIR / f"{SONG_NAME}.ogg"
    one = frame_settings(VideoJob(song, tmp_path / "a.mp4", sampler=SamplerConfig(restarts=1)), None, ["m"])
    four = frame_settings(VideoJob(song, tmp_path / "a.mp4", sampler=SamplerConfig(restarts=4)), None, ["m"])
    assert "restarts" not in one["sampler"] and four["sampler"]["restarts"] == 4
    assert {k: v for k, v in four["sampler"].items() if k != "restarts"} == one["sampler"]
