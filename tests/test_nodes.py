"""The nodes in-process, with ComfyUI's own modules (`folder_paths`, `comfy.utils`,
`comfy.model_management`) from the test server `make test` sets up, and no server: a node bug
shows in seconds. The end-to-end tests in tests/e2e run the same nodes on the real server."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
COMFY = ROOT / ".comfyui" / "ComfyUI"
sys.path.insert(0, str(ROOT / "scripts"))
from packinfo import load_pack  # noqa: E402


@pytest.fixture(scope="module")
def inproc(tmp_path_factory):
    """ComfyUI's modules importable, its folders in a temp dir, the pack loaded as ComfyUI loads it.
    Undone afterwards, so other tests see the pack outside ComfyUI again."""
    if not (COMFY / "folder_paths.py").is_file():
        if os.environ.get("LAG_SKIP_E2E") == "1":
            pytest.skip("LAG_SKIP_E2E=1 and no ComfyUI set up")
        pytest.fail("ComfyUI is not set up: run `make test` (it runs scripts/setup_comfyui.py)")
    base = tmp_path_factory.mktemp("comfy_inproc")
    before = set(sys.modules)
    sys.path.insert(0, str(COMFY))
    try:
        import folder_paths
        from comfy.cli_args import args

        args.cpu = True  # as the test server runs (`main.py --cpu`); read when comfy.model_management imports
        folder_paths.models_dir = str(base / "models")
        for sub in ("input", "output", "temp"):
            (base / sub).mkdir()
        folder_paths.set_input_directory(str(base / "input"))
        pack = load_pack("comfyui_lag_inproc")
        pack_common = sys.modules["comfyui_lag_inproc.nodes.common"]
        pack_common.register_model_folders()
        yield pack, base
    finally:
        sys.path.remove(str(COMFY))
        for name in set(sys.modules) - before:  # ComfyUI's modules and this copy of the pack
            del sys.modules[name]


def _bundled(pack) -> str:
    return sys.modules[f"{pack.__name__}.nodes.data"].BUNDLED  # "[sample] LAG sample (N entries)"


def _node(pack, key):
    return pack.NODE_CLASS_MAPPINGS[key]()


def test_entry_attention_sampler_chain_under_inference_mode(inproc):
    """Workflow 1's chain, node by node, under inference mode as ComfyUI runs every node."""
    pack, _ = inproc
    with torch.inference_mode():
        (vqgan,) = _node(pack, "LAGVQGANLoader").load("[preset] tiny")
        (clip,) = _node(pack, "LAGCLIPLoader").load("[preset] tiny")
        lyrics, genre, mfcc, audio, name = _node(pack, "LAGLoadLAGEntry").load(_bundled(pack), 3)
        assert mfcc.shape == (1, 128, 431) and audio["waveform"].shape[-1] > 0 and genre in ("metal", "pop", "rnb", "rap")
        cond, heat, kind = _node(pack, "LAGLyricAttention").attend(
            clip, "tiny_lyric_attention_mha.safetensors", lyrics, genre, 1.0, mfcc=mfcc)
        assert kind == "mha" and cond.embeds.shape == (1, clip.embed_dim) and heat.shape[-1] == 3
        image, frames = _node(pack, "LAGVQGANCLIPSampler").sample(
            vqgan, clip, "storm:0.5", 32, 32, 2, 0, 0.1, "adam", 4, 1.0, "random", 1, 0, conditioning=cond)
    assert image.shape == (1, 32, 32, 3) and frames.shape == (2, 32, 32, 3)
    # The node's conditioning is the engine's song -> targets, nothing else.
    from lag_core.models import make_attention, make_clip
    from lag_core.song import Song, song_targets

    engine_clip = make_clip("tiny")
    ref = song_targets(Song(lyrics, genre, mfcc), make_attention("tiny", engine_clip), engine_clip)
    torch.testing.assert_close(cond.embeds, ref.targets.embeds)
    assert cond.labels == ref.targets.labels


def test_audio_feature_encoder_windows(inproc):
    pack, base = inproc
    shutil.copy(ROOT / "lag_core" / "data" / "sample" / "audio" / "sample_pop_1.ogg", base / "input" / "song.ogg")
    with torch.inference_mode():
        (clip,) = _node(pack, "LAGCLIPLoader").load("[preset] tiny")
        (audio,) = _node(pack, "LAGLoadAudio").load("song.ogg")
        long = {"waveform": torch.cat([audio["waveform"], audio["waveform"] * 0.1], dim=-1), "sample_rate": audio["sample_rate"]}
        enc = _node(pack, "LAGAudioFeatureEncoder")
        e1, m1, pic = enc.encode(clip, "untrained statistics encoder", "first 10 s", audio=long)
        e2, m2, _ = enc.encode(clip, "untrained statistics encoder", "middle 10 s", audio=long)
    assert m1.shape == m2.shape == (1, 128, 431) and pic.shape == (1, 256, 431, 3)
    assert not torch.allclose(m1, m2)  # the middle of a quiet-tailed song is another window
    assert e1.shape == (1, clip.embed_dim) and torch.allclose(e1.norm(), torch.tensor(1.0))


def test_clip_loader_reloads_when_the_file_behind_a_spec_changes(inproc):
    """Cached by path, size and mtime: a file replaced behind an unchanged `open_clip_spec` reloads."""
    import folder_paths

    from lag_core.clip_models import save_clip
    from lag_core.models import make_clip

    pack, _ = inproc
    folder = Path(folder_paths.get_folder_paths("lag_clip")[0])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mine.safetensors"
    save_clip(make_clip("tiny", seed=1), path)
    spec = "lag-tiny-clip:mine.safetensors"  # ARCH:FILE, the file inside the CLIP folder
    loader = _node(pack, "LAGCLIPLoader")
    (first,) = loader.load("[preset] tiny", open_clip_spec=spec)
    (again,) = loader.load("[preset] tiny", open_clip_spec=spec)
    assert again is first
    time.sleep(0.01)
    save_clip(make_clip("tiny", seed=2), path)
    (third,) = loader.load("[preset] tiny", open_clip_spec=spec)
    assert third is not first
    assert not torch.allclose(third.embed_texts(["x"]), first.embed_texts(["x"]))


def test_cancelled_training_keeps_the_old_weights(inproc, monkeypatch):
    """Cancel (ComfyUI's interrupt flag, raised by the progress hook) during the second epoch: the
    user's existing weights file is untouched and no partial file stays behind."""
    import comfy.model_management as mm
    import comfy.utils
    import folder_paths

    pack, _ = inproc
    monkeypatch.setenv("LAG_CACHE_DIR", str(inproc[1] / "cache"))
    folder = Path(folder_paths.get_folder_paths("lag_attention")[0])
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / "precious.safetensors"
    shutil.copy(ROOT / "weights" / "attention" / "tiny_lyric_attention_mha.safetensors", old)
    before = old.read_bytes()
    epochs_seen = []

    def hook(value, total, preview):
        epochs_seen.append(value)
        if value == 1:
            mm.interrupt_current_processing(True)  # the user presses Cancel during epoch 2

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        (clip,) = _node(pack, "LAGCLIPLoader").load("[preset] tiny")
        train = _node(pack, "LAGTrainAttention")
        with torch.inference_mode(), pytest.raises(mm.InterruptProcessingException):
            train.train(clip, _bundled(pack), "mha", 0.7, 5, 8, 0.002, 0, True, "precious", True)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        mm.interrupt_current_processing(False)
    assert epochs_seen == [1]
    assert old.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["precious.safetensors"]
    with torch.inference_mode():
        out = train.train(clip, _bundled(pack), "mha", 0.7, 2, 8, 0.002, 0, True, "precious", True, keys="content",
                          audio_only_genre_weight=0.6)
    assert out["result"][0] == "precious.safetensors" and old.read_bytes() != before
    optional = type(train).INPUT_TYPES()["optional"]
    assert optional["keys"][1]["default"] == "words" and optional["audio_only_genre_weight"][1]["default"] < 0
    from lag_core.attention.checkpoint import load_attention, saved_train_config

    assert load_attention(old).cfg.keys == "content"
    assert saved_train_config(old)["audio_only_genre_weight"] == 0.6
    assert out["result"][1].shape[-1] == 3  # the curves, drawn by the node


SONG_ARGS = dict(genre="", fps=2.0, steps_per_frame=1, first_steps=2, inbetween=1, zoom=0.1, rotate=5.0, translate_x=0.0,
                 translate_y=0.0, reactivity=0.5, transition=1.0, start=19.0, duration=2.0, width=32, height=32, seed=0,
                 lr=0.1, cutn=4)


def test_song_to_video_and_save_video(inproc):
    """The bundled song through Song to Video (previews every optimised frame) into Save Video (LAG): a real
    MP4 with the frames and the audio they cover, read back with PyAV."""
    import av
    import comfy.utils
    import folder_paths

    from lag_core.data.demo_song import SONG_DIR

    pack, base = inproc
    folder_paths.set_output_directory(str(base / "output"))
    previews = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview: previews.append((value, total, preview)))
    try:
        with torch.inference_mode():
            (vqgan,) = _node(pack, "LAGVQGANLoader").load("[preset] tiny")
            (clip,) = _node(pack, "LAGCLIPLoader").load("[preset] tiny")
            (audio,) = _node(pack, "LAGLoadAudio").load("[sample] fire_and_ocean.ogg")
            lrc = (SONG_DIR / "fire_and_ocean.lrc").read_text(encoding="utf-8")  # with its BOM, as a pasted file would be
            frames, part, fps = _node(pack, "LAGSongToVideo").render(
                vqgan, clip, "tiny_lyric_attention_mha.safetensors", audio, lrc, **SONG_ARGS)
            saved = _node(pack, "LAGSaveVideo").save(frames, fps, "lag/clip", 2, audio=part)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    assert frames.shape == (4, 32, 32, 3) and fps == 2.0
    assert part["waveform"].shape[-1] == 2 * part["sample_rate"]
    assert [(v, t) for v, t, _ in previews] == [(1, 4), (3, 4), (4, 4)]  # one per optimised frame (0, 2, 3)
    assert all(p is not None and p[0] == "JPEG" for _, _, p in previews)
    entry = saved["ui"]["images"][0]
    assert entry == {"filename": "clip_00001.mp4", "subfolder": "lag", "type": "output"}
    with av.open(str(base / "output" / "lag" / "clip_00001.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 4 and decoded[0].shape == (64, 64, 3)
    with torch.inference_mode():
        again = _node(pack, "LAGSaveVideo").save(frames, fps, "lag/clip", 1)
    assert again["ui"]["images"][0]["filename"] == "clip_00002.mp4"
    with pytest.raises(ValueError, match="outside ComfyUI's output folder"):
        _node(pack, "LAGSaveVideo").save(frames, fps, "../escape", 1)
    bad = pack.NODE_CLASS_MAPPINGS["LAGSongToVideo"].VALIDATE_INPUTS("tiny_lyric_attention_mha.safetensors", "[00:05.00]a\n[00:02.00]b")
    assert "out-of-order time stamp" in bad


def test_song_to_video_cancel_stops_within_one_frame(inproc):
    import comfy.model_management as mm
    import comfy.utils

    pack, _ = inproc
    seen = []

    def hook(value, total, preview):
        seen.append(value)
        mm.interrupt_current_processing(True)  # Cancel as soon as the first frame is shown

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        with torch.inference_mode(), pytest.raises(mm.InterruptProcessingException):
            (vqgan,) = _node(pack, "LAGVQGANLoader").load("[preset] tiny")
            (clip,) = _node(pack, "LAGCLIPLoader").load("[preset] tiny")
            (audio,) = _node(pack, "LAGLoadAudio").load("[sample] fire_and_ocean.ogg")
            _node(pack, "LAGSongToVideo").render(vqgan, clip, "tiny_lyric_attention_mha.safetensors", audio, "", **SONG_ARGS)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        mm.interrupt_current_processing(False)
    assert seen == [1]
