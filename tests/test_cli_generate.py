import json

import numpy as np
import pytest
import torch
from PIL import Image


def test_generate_json_summary_and_frames(tmp_path, lag_cli):
    out = tmp_path / "img.png"
    frames = tmp_path / "frames"
    proc = lag_cli("generate", "--preset", "tiny", "--prompt", "a red sun:1", "--prompt", "blurry:-0.5",
                   "--size", 48, 32, "--steps", 10, "--seed", 3, "--cutn", 8, "--save-every", 2, "--restarts", 3,
                   "--frames-dir", frames, "--out", out, "--json", check=True)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("out", "steps", "seconds", "it_per_s", "loss_first", "loss_last", "starts", "start"):
        assert key in summary
    assert summary["steps"] == 10 and summary["frames"] == 5 and summary["starts"] == 3
    with Image.open(out) as im:
        assert im.size == (48, 32)
    # The frames of the start that went on, named by its own steps (its trial's frame at step 2 included);
    # none of the other starts' trials.
    assert sorted(p.name for p in frames.iterdir()) == [f"frame_{k:05d}.png" for k in (2, 4, 6, 8, 10)]
    assert not list(tmp_path.glob(".*.tmp"))


def test_generate_deterministic_is_byte_identical(tmp_path, lag_cli):
    outs = []
    for name in ("a.png", "b.png"):
        outs.append(tmp_path / name)
        lag_cli("generate", "--preset", "tiny", "--prompt", "storm", "--size", 32, 32, "--steps", 3,
                "--cutn", 4, "--seed", 1, "--deterministic", "--out", outs[-1], check=True)
    assert outs[0].read_bytes() == outs[1].read_bytes()


# sha256 of PNGs from `lag generate --deterministic` before the engine was tidied (commit 8a5c676),
# measured with torch 2.14.1+cu130 on an AVX512 CPU: the tidy changed no pixel. Other CPU kernels may
# sum in another order, so elsewhere only run-to-run identity is checked. (Until 2026-12-04 the guard
# read "2.14.1" alone; a fresh install on 2026-12-07 drew the audio case's pixels differently (the text
# case's did not move): re-measured there, with numpy 2.3.5 / 2.4.0, soundfile 0.13.1 and open_clip 3.2.0 ruled out.)
PINNED_TORCH = "2.14.1+cu130"
PINNED = {
    "tiny_text": (["--preset", "tiny", "--prompt", "a red circle", "--size", "64", "64"],
                  "3decd2f7486343504762c64debb8b1c982b28346c5d6e13eff0e3c84eb11b633"),
    # Was a toyworld case; the toy world was retrained (#14), so the same song runs on the tiny
    # preset. Re-measured when the text tower began to run on rows padded to the batch's longest
    # instead of the whole context (its token features moved by 2e-6 of 3.4: rounding).
    "tiny_audio_lyrics_genre": (["--preset", "tiny", "--audio", "lag_core/data/sample/audio/sample_pop_1.ogg", "--lyrics",
                                 "we dance until the morning", "--genre", "pop"],
                                "d9f03fe5ca016c445529544938d3a54a29fd4ba879a9348df21605b4cf314bad"),
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_generate_matches_the_pinned_hash(tmp_path, lag_cli, case):
    import hashlib
    from pathlib import Path

    args, expected = PINNED[case]
    root = Path(__file__).resolve().parent.parent
    args = [str(root / a) if a.startswith("lag_core/") else a for a in args]
    outs = [tmp_path / f"{k}.png" for k in range(2)]
    for out in outs:
        # One start: the pinned pixels predate restarts (and --restarts 1 keeps drawing them).
        lag_cli("generate", *args, "--deterministic", "--seed", 3, "--steps", 12, "--restarts", 1, "--out", out, check=True)
    digest = hashlib.sha256(outs[0].read_bytes()).hexdigest()
    assert digest == hashlib.sha256(outs[1].read_bytes()).hexdigest()
    if torch.__version__ == PINNED_TORCH and torch.backends.cpu.get_cpu_capability() == "AVX512":
        assert digest == expected


def test_image_and_init_prompts(tmp_path, lag_cli):
    pic = tmp_path / "red.png"
    Image.fromarray(np.full((20, 20, 3), (255, 0, 0), np.uint8)).save(pic)
    proc = lag_cli("generate", "--preset", "tiny", "--image-prompt", f"{pic}:2", "--init-image", pic,
                   "--size", 32, 32, "--steps", 2, "--cutn", 4, "--out", tmp_path / "o.png", "--json", check=True)
    assert json.loads(proc.stdout)["steps"] == 2


@pytest.mark.parametrize("args,needle", [
    (["--prompt", "x", "--size", "30", "32"], "multiple of the VQGAN's downsampling factor"),
    (["--prompt", "x", "--steps", "0"], "steps must be at least 1"),
    (["--prompt", "x", "--optimizer", "lion"], "unknown optimizer"),
    ([], "prompt list is empty"),
    (["--prompt", "a cat:heavy"], "prompt weight must be a number"),
    (["--prompt", "x", "--vqgan", "nope.ckpt", "--clip", "tiny"], "nor a file in"),
    (["--prompt", "x", "--image-prompt", "__NOT_IMAGE__"], "is not an image"),
])
def test_bad_input_one_line_nonzero(tmp_path, lag_cli, args, needle):
    if "__NOT_IMAGE__" in args:
        bad = tmp_path / "notes.png"
        bad.write_text("this is not an image")
        args = [str(bad) if a == "__NOT_IMAGE__" else a for a in args]
    out = tmp_path / "o.png"
    proc = lag_cli("generate", "--preset", "tiny", "--steps", "2", *args, "--out", out)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert not out.exists()


def test_bad_weight_files_one_line(tmp_path, lag_cli):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    proc = lag_cli("generate", "--prompt", "x", "--vqgan", corrupt, "--clip", "tiny", "--out", tmp_path / "o.png")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "corrupt or truncated" in proc.stderr
    odd = tmp_path / "odd.safetensors"
    from safetensors.torch import save_file

    save_file({"encoder.conv_in.weight": torch.zeros(8, 3, 3, 3)}, str(odd))
    proc = lag_cli("generate", "--prompt", "x", "--vqgan", odd, "--clip", "tiny", "--out", tmp_path / "o.png")
    assert proc.returncode == 2 and "taming VQGAN key" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
