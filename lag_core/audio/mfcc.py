"""MFCC with the LAG dataset's settings, in torch (batched, runs on GPU, no numba JIT).

Matches `librosa.feature.mfcc(y, sr=22050, n_mfcc=128, n_fft=2048, hop_length=512, n_mels=128)`
(librosa >= 0.10 defaults: centred frames with zero padding, periodic Hann window, power 2,
Slaney mel scale and area normalisation, `power_to_db(ref=1, amin=1e-10, top_db=80)`, DCT-II
with orthonormal scaling). A 10 s clip at 22050 Hz gives 1 + 220500 // 512 = 431 frames.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

SAMPLE_RATE = 22050
N_FFT = 2048
HOP = 512
N_MELS = 128
N_MFCC = 128
CLIP_SECONDS = 10
CLIP_SAMPLES = SAMPLE_RATE * CLIP_SECONDS  # 220500
FRAMES = 1 + CLIP_SAMPLES // HOP  # 431
TOP_DB = 80.0
AMIN = 1e-10


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa `htk=False`): linear below 1 kHz, logarithmic above."""
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular Slaney-normalised mel filters `[n_mels, 1 + n_fft // 2]` (as librosa.filters.mel)."""
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)  # [F]
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))  # [M + 2]
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)  # [M + 2, F]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))  # [M, F]
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=8)
def dct_matrix(n: int = N_MELS, n_out: int = N_MFCC) -> np.ndarray:
    """Orthonormal DCT-II as a matrix `[n_out, n]` (scipy.fft.dct(type=2, norm='ortho'))."""
    k = np.arange(n_out)[:, None]
    i = np.arange(n)[None, :]
    mat = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) * math.sqrt(2.0 / n)
    mat[0] *= 1 / math.sqrt(2.0)
    return mat.astype(np.float32)


_CONSTANTS: dict = {}


def _constants(device: torch.device):
    key = str(device)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = (
            torch.hann_window(N_FFT, periodic=True, device=device),
            torch.from_numpy(mel_filterbank()).to(device),
            torch.from_numpy(dct_matrix()).to(device),
        )
    return _CONSTANTS[key]


# On CPU, clips go through one at a time: a clip's 3.5 MB spectrogram stays in cache, and
# batched STFTs measured slower per clip on the 2-core machines (bench/bench_mfcc.py). On a GPU
# the whole batch goes through at once.
CPU_CHUNK = 1


@torch.no_grad()
def mfcc_lag(clips: torch.Tensor) -> torch.Tensor:
    """Mono 22050 Hz clips `[B, T]` (or `[T]`) -> MFCC `[B, 128, frames]` (431 frames for 10 s).

    `power_to_db`'s 80 dB floor is taken per clip, as librosa does for one clip at a time.
    """
    squeeze = clips.ndim == 1
    if squeeze:
        clips = clips[None]
    clips = clips.float()
    if clips.device.type == "cpu" and clips.shape[0] > CPU_CHUNK:
        return torch.cat([_mfcc(chunk) for chunk in clips.split(CPU_CHUNK)])  # [B, 128, T']
    out = _mfcc(clips)
    return out[0] if squeeze else out


def _mfcc(clips: torch.Tensor) -> torch.Tensor:
    window, mel_basis, dct = _constants(clips.device)
    spec = torch.stft(clips, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True)
    power = spec.real.square() + spec.imag.square()  # [B, 1025, T']
    mel = torch.matmul(mel_basis, power)  # [B, 128, T']
    db = 10.0 * torch.log10(mel.clamp_min(AMIN))  # [B, 128, T']
    db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - TOP_DB)
    return torch.matmul(dct, db)  # [B, 128, T']
