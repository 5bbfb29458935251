import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from lag_core.audio.encoder import (
    AudioEncoder,
    AudioEncoderConfig,
    load_audio_encoder,
    save_audio_encoder,
    stats_encoder,
)
from lag_core.audio.io import audio_to_mfcc, clips_10s, load_audio, save_audio, to_mono_22050
from lag_core.audio.mfcc import CLIP_SAMPLES, FRAMES, mfcc_lag
from lag_core.data.dataset import open_dataset
from lag_core.errors import InputError, WeightsError
from lag_core.options import GENRES

SR = 22050
# Our MFCC vs librosa.feature.mfcc on the same float32 signal: coefficients reach several hundred,
# and the largest absolute difference we accept is 0.01 (measured: ~2e-5).
TOLERANCE = 1e-2


def _signals():
    rng = np.random.default_rng(0)
    t = np.arange(CLIP_SAMPLES) / SR
    chirp = 0.5 * np.sin(2 * np.pi * (100 + 400 * t) * t)
    tones = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1760 * t) + 0.05 * rng.standard_normal(len(t))
    song = sf.read(str(open_dataset(None).audio_path(0)), dtype="float32")[0]  # a real decoded OGG clip
    return {"chirp": chirp, "tones": tones, "song": song, "short": tones[: SR * 3]}


@pytest.mark.parametrize("name", ["chirp", "tones", "song", "short"])
def test_mfcc_matches_librosa(name):
    librosa = pytest.importorskip("librosa")
    y = _signals()[name].astype(np.float32)
    ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=128, n_fft=2048, hop_length=512, n_mels=128)
    ours = mfcc_lag(torch.from_numpy(y)).numpy()
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < TOLERANCE


def test_mfcc_batch_equals_single_and_ten_seconds_is_431_frames():
    sig = _signals()
    batch = torch.from_numpy(np.stack([sig["chirp"], sig["tones"], sig["song"]]).astype(np.float32))
    out = mfcc_lag(batch)
    assert out.shape == (3, 128, FRAMES) == (3, 128, 431)
    for i in range(3):
        torch.testing.assert_close(out[i], mfcc_lag(batch[i]), atol=1e-3, rtol=0)
    big = torch.cat([batch] * 4)  # 12 > CPU chunk size
    torch.testing.assert_close(mfcc_lag(big)[7], out[1], atol=1e-3, rtol=0)


def test_silence_is_finite():
    out = mfcc_lag(torch.zeros(CLIP_SAMPLES))
    assert torch.isfinite(out).all()


def test_pad_split_stereo_resample():
    t = np.arange(int(SR * 25)) / SR
    left = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    stereo = torch.from_numpy(np.stack([left, left * 0.5]))[None]  # [1, 2, T]
    mono = to_mono_22050({"waveform": stereo, "sample_rate": SR})
    torch.testing.assert_close(mono[0], torch.from_numpy(left * 0.75))
    assert clips_10s(mono, "first").shape == (1, CLIP_SAMPLES)
    assert clips_10s(mono, "split").shape == (3, CLIP_SAMPLES)
    assert clips_10s(mono[:, : SR * 2], "first").shape == (1, CLIP_SAMPLES)
    # 44.1 kHz input is resampled: its MFCC is close to the one of the same tone made at 22050 Hz
    t44 = np.arange(44100 * 10) / 44100
    m44 = audio_to_mfcc({"waveform": torch.from_numpy(np.sin(2 * np.pi * 440 * t44).astype(np.float32))[None, None], "sample_rate": 44100})
    m22 = audio_to_mfcc({"waveform": torch.from_numpy(left[: CLIP_SAMPLES])[None, None], "sample_rate": SR})
    assert m44.shape == (1, 128, 431)
    assert (m44 - m22)[:, :20, 5:-5].abs().mean() < 1.0
    with pytest.raises(InputError, match="segment mode"):
        clips_10s(mono, "chop")


def test_ten_second_windows_of_longer_and_shorter_audio():
    """The windows the Audio Feature Encoder node offers: the first and the middle 10 s, zero-padded."""
    ramp = torch.arange(SR * 25, dtype=torch.float32)[None]  # [1, T]: every sample says where it came from
    first, middle = clips_10s(ramp, "first"), clips_10s(ramp, "middle")
    assert first[0, 0] == 0 and first[0, -1] == CLIP_SAMPLES - 1
    start = (SR * 25 - CLIP_SAMPLES) // 2
    assert middle[0, 0] == start and middle[0, -1] == start + CLIP_SAMPLES - 1
    short = ramp[:, : SR * 3] + 1  # 3 s, no zeros inside
    for mode in ("first", "middle"):
        clip = clips_10s(short, mode)
        assert clip.shape == (1, CLIP_SAMPLES)
        assert torch.equal(clip[0, : SR * 3], short[0]) and not clip[0, SR * 3 :].any()  # padded at the end
    split = clips_10s(ramp, "split")
    assert torch.equal(split[1], ramp[0, CLIP_SAMPLES : 2 * CLIP_SAMPLES])


def test_mfcc_picture_puts_coefficient_zero_at_the_bottom():
    from lag_core.viz import mfcc_picture

    mfcc = torch.zeros(128, 431)
    mfcc[0] = torch.linspace(-1, 1, 431)  # only coefficient 0 varies over time
    pic = mfcc_picture(mfcc)
    assert pic.shape == (1, 256, 431, 3) and 0 <= pic.min() and pic.max() <= 1
    red = pic[0, :, :, 0]
    assert red[-1, -1] > red[-1, 0] and torch.equal(red[0, 0], red[0, -1])  # bottom row varies, top row flat


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3"])
def test_decode_formats(tmp_path, suffix):
    t = np.arange(SR) / SR
    wave = np.stack([np.sin(2 * np.pi * 330 * t), np.sin(2 * np.pi * 440 * t)]).astype(np.float32) * 0.5
    path = save_audio({"waveform": torch.from_numpy(wave)[None], "sample_rate": SR}, tmp_path / f"x{suffix}")
    audio = load_audio(path)
    assert audio["sample_rate"] == SR
    assert audio["waveform"].shape[:2] == (1, 2) and audio["waveform"].dtype == torch.float32
    assert abs(audio["waveform"].shape[-1] - SR) < 2000  # mp3 adds encoder padding


def test_bad_audio_one_line(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "none.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_audio(empty)
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all " * 50)
    with pytest.raises(InputError, match="could not be decoded") as info:
        load_audio(text)
    assert "\n" not in str(info.value)
    good = save_audio({"waveform": torch.zeros(1, 1, SR), "sample_rate": SR}, tmp_path / "ok.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good.read_bytes()[:30])
    with pytest.raises(InputError):
        load_audio(corrupt)
    with pytest.raises(InputError, match="expected AUDIO"):
        to_mono_22050(torch.zeros(10))


def test_bundled_sample():
    ds = open_dataset(None)
    assert len(ds) == 64 and ds.genre_counts() == {g: 16 for g in GENRES}
    assert ds.problems == []
    # Stored MFCCs are those of the shipped audio (fp16 storage).
    for i in (0, 13):
        recomputed = audio_to_mfcc(load_audio(ds.audio_path(i)))[0]
        assert (recomputed - ds.mfcc[i]).abs().max() < 0.5
    # The genres really differ: nearest centroid on time-averaged MFCC, leave one out.
    feats = ds.mfcc.mean(-1)  # [64, 128]
    labels = torch.tensor([e.genre_idx for e in ds.entries])
    correct = 0
    for i in range(len(ds)):
        mask = torch.arange(len(ds)) != i
        cents = torch.stack([feats[mask & (labels == g)].mean(0) for g in range(4)])
        correct += int((feats[i] - cents).norm(dim=1).argmin() == labels[i])
    assert correct / len(ds) >= 0.9


@pytest.mark.parametrize("mode", ["conv", "stats"])
def test_audio_encoder_shapes_and_round_trip(tmp_path, mode):
    ds = open_dataset(None)
    enc = AudioEncoder(AudioEncoderConfig(embed_dim=64, mode=mode, channels=(32, 32))).fit_normalization(ds.mfcc).eval()
    out = enc(ds.mfcc[:5])
    assert out.shape == (5, 64) and torch.isfinite(out).all()
    assert torch.allclose(enc.embed(ds.mfcc[:2]).norm(dim=-1), torch.ones(2))
    path = save_audio_encoder(enc, tmp_path / "enc.safetensors")
    again = load_audio_encoder(path)
    torch.testing.assert_close(again(ds.mfcc[:5]), out)
    with pytest.raises(InputError, match="expects MFCC"):
        enc(torch.zeros(2, 20, 431))


def test_stats_encoder_keeps_genres_apart():
    ds = open_dataset(None)
    enc = stats_encoder(64, ds.mfcc)
    emb = enc.embed(ds.mfcc)  # [64, 64]
    labels = torch.tensor([e.genre_idx for e in ds.entries])
    sims = emb @ emb.T
    sims.fill_diagonal_(-2)
    nearest = labels[sims.argmax(1)]
    assert (nearest == labels).float().mean() >= 0.75


def test_audio_encoder_file_errors(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "x.safetensors"
    save_file({"a": torch.zeros(1)}, str(plain))
    with pytest.raises(WeightsError, match="not an audio encoder"):
        load_audio_encoder(plain)


def test_data_build_from_own_songs(tmp_path, lag_cli):
    songs = tmp_path / "songs"
    songs.mkdir()
    t = np.arange(int(SR * 23)) / SR
    sf.write(songs / "a.wav", (0.3 * np.sin(2 * np.pi * 110 * t)).astype(np.float32), SR)
    sf.write(songs / "b.flac", (0.3 * np.sin(2 * np.pi * 880 * t[: SR * 4])).astype(np.float32), 44100)
    lyrics = tmp_path / "lyrics.csv"
    with open(lyrics, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "lyrics", "genre", "segment"])
        w.writerow(["a.wav", "low hum all night", "metal", ""])
        w.writerow(["b.flac", "a high bright line", "Pop", "0"])
    out = tmp_path / "mine"
    info = json.loads(lag_cli("data", "build", songs, lyrics, out, "--json", check=True).stdout)
    assert info["entries"] == 4 and info["genres"]["metal"] == 3 and info["genres"]["pop"] == 1
    ds = open_dataset(out)
    assert [e.file_name for e in ds.entries] == ["a_0", "a_1", "a_2", "b_0"]
    assert all(ds.audio_path(i) is not None for i in range(4))
    assert ds.mfcc.shape == (4, 128, 431)
    with open(lyrics, "a", newline="") as f:
        csv.writer(f).writerow(["a.wav", "x", "jazz", ""])
    proc = lag_cli("data", "build", songs, lyrics, tmp_path / "bad")
    assert proc.returncode == 2 and "unknown genre 'jazz'" in proc.stderr
    assert not (tmp_path / "bad").exists()
