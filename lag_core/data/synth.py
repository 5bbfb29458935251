"""Deterministic genre sketches for the bundled sample: 10 s of audio per entry, from a seed.

Not music, but the ingredients that make the four LAG genres sound (and MFCC) different:

* metal: distorted low power chords in chugging 8ths, double kick in 16ths, snare on 2 and 4, ~180 bpm.
* pop: bright major triads and a sine arpeggio, four-on-the-floor kick, claps, 8th hats, ~120 bpm.
* rnb: slow, soft major-seventh chords with tremolo, swung hats, sub bass, rimshot, ~70 bpm.
* rap: long 808 kicks, claps on 3, hi-hat rolls, and a rhythmic spoken-like band (a buzzy voice
  source through moving formant bands, in syllables), ~90 bpm.
"""

from __future__ import annotations

import numpy as np

from ..audio.mfcc import CLIP_SAMPLES, SAMPLE_RATE

SR = SAMPLE_RATE
N = CLIP_SAMPLES


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _place(out: np.ndarray, sound: np.ndarray, start_s: float, gain: float = 1.0) -> None:
    i = int(start_s * SR)
    if i >= len(out):
        return
    j = min(len(out), i + len(sound))
    out[i:j] += gain * sound[: j - i]


def _band(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Smooth band-pass in the frequency domain."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    mask = 1 / (1 + (lo / np.maximum(f, 1e-3)) ** 4) / (1 + (f / hi) ** 4)
    return np.fft.irfft(spec * mask, n=len(x))


def _tone(freq: float, dur: float, harmonics: int = 1, bright: float = 1.0) -> np.ndarray:
    t = np.arange(int(dur * SR)) / SR
    out = np.zeros_like(t)
    for k in range(1, harmonics + 1):
        if freq * k < SR / 2:
            out += np.sin(2 * np.pi * freq * k * t) / k**bright
    return out


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def _kick(f0=150.0, f1=50.0, decay=0.15, dur=0.4):
    t = np.arange(int(dur * SR)) / SR
    freq = f1 + (f0 - f1) * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-t / decay)


def _noise_hit(rng, dur, decay, lo, hi):
    n = int(dur * SR)
    return _band(rng.standard_normal(n), lo, hi) * _env(n, 0.001, decay)


def _beats(bpm: float, div: int, swing: float = 0.0):
    step = 60.0 / bpm / div
    times, k = [], 0
    while k * step < 10.0:
        times.append(k * step + (swing * step if k % 2 else 0.0))
        k += 1
    return times


def metal(rng) -> np.ndarray:
    bpm = rng.uniform(170, 190)
    out = np.zeros(N)
    root = 40 + rng.integers(0, 5)  # E2..G#2
    riff = [0, 0, 1, 0, 3, 0, 5, 3]
    step = 60 / bpm / 2
    for k, t0 in enumerate(_beats(bpm, 2)):
        r = root + riff[k % len(riff)]
        note = sum(_tone(_hz(m), step * 0.95, harmonics=24, bright=0.7) for m in (r, r + 7, r + 12))
        _place(out, np.tanh(6 * note) * _env(len(note), 0.003, 0.12), t0, 0.5)
    for t0 in _beats(bpm, 4):
        _place(out, _kick(120, 55, 0.06, 0.15), t0, 0.8)
    for k, t0 in enumerate(_beats(bpm, 1)):
        if k % 2:
            _place(out, _noise_hit(rng, 0.2, 0.06, 800, 8000), t0, 0.7)
    return out


def pop(rng) -> np.ndarray:
    bpm = rng.uniform(115, 125)
    out = np.zeros(N)
    key = 60 + rng.integers(0, 5)
    prog = [0, 7, 9, 5]  # I V vi IV, voiced as bright major triads
    bar = 4 * 60 / bpm
    for b in range(int(10 / bar) + 1):
        r = key + prog[b % 4]
        chord = sum(_tone(_hz(m), bar, harmonics=6, bright=1.2) for m in (r, r + 4, r + 7, r + 12))
        _place(out, chord * _env(len(chord), 0.01, 1.5), b * bar, 0.15)
        for k in range(8):
            arp = _tone(_hz(r + 12 + (0, 4, 7, 12)[k % 4]), bar / 8, harmonics=2)
            _place(out, arp * _env(len(arp), 0.005, 0.08), b * bar + k * bar / 8, 0.2)
    for t0 in _beats(bpm, 1):
        _place(out, _kick(160, 55, 0.12), t0, 0.9)
    for k, t0 in enumerate(_beats(bpm, 1)):
        if k % 2:
            _place(out, _noise_hit(rng, 0.15, 0.05, 1200, 9000), t0, 0.5)
    for t0 in _beats(bpm, 2):
        _place(out, _noise_hit(rng, 0.05, 0.015, 7000, 11000), t0, 0.25)
    return out


def rnb(rng) -> np.ndarray:
    bpm = rng.uniform(65, 75)
    out = np.zeros(N)
    key = 55 + rng.integers(0, 5)
    prog = [0, 5, 9, 2]
    bar = 4 * 60 / bpm
    t_all = np.arange(N) / SR
    for b in range(int(10 / bar) + 1):
        r = key + prog[b % 4]
        chord = sum(_tone(_hz(m), bar, harmonics=2, bright=2.0) for m in (r, r + 4, r + 7, r + 11, r + 14))
        _place(out, chord * _env(len(chord), 0.15, 3.0), b * bar, 0.12)
        bass = _tone(_hz(r - 24), bar, harmonics=1)
        _place(out, bass * _env(len(bass), 0.05, 2.0), b * bar, 0.35)
    out *= 1 + 0.25 * np.sin(2 * np.pi * 5.0 * t_all)  # tremolo
    for k, t0 in enumerate(_beats(bpm, 1)):
        _place(out, _kick(110, 45, 0.2) if k % 2 == 0 else _noise_hit(rng, 0.08, 0.02, 1500, 5000), t0, 0.5)
    for t0 in _beats(bpm, 4, swing=0.33):
        _place(out, _noise_hit(rng, 0.04, 0.01, 6000, 10000), t0, 0.12)
    return out


def rap(rng) -> np.ndarray:
    bpm = rng.uniform(85, 95)
    out = np.zeros(N)
    beat = 60 / bpm
    for k, t0 in enumerate(_beats(bpm, 1)):
        if k % 4 in (0, 3):
            _place(out, _kick(70, 42, 0.5, 1.0), t0, 1.0)
        if k % 4 == 2:
            _place(out, _noise_hit(rng, 0.25, 0.08, 900, 7000), t0, 0.8)
    for k, t0 in enumerate(_beats(bpm, 4)):
        roll = 3 if k % 8 == 7 else 1
        for r in range(roll):
            _place(out, _noise_hit(rng, 0.03, 0.008, 7000, 11000), t0 + r * beat / 12, 0.2)
    # Spoken-like band: a 110-150 Hz buzz through two formant bands that jump per syllable.
    voice = np.zeros(N)
    pitch = rng.uniform(110, 150)
    syll = beat / 4
    for k in range(int(10 / syll)):
        if rng.random() < 0.2:
            continue  # a rest between words
        dur = syll * 0.9
        n = int(dur * SR)
        t = np.arange(n) / SR
        buzz = np.sign(np.sin(2 * np.pi * pitch * (1 + 0.05 * rng.standard_normal()) * t))
        f1, f2 = rng.uniform(300, 800), rng.uniform(900, 2500)
        vowel = _band(buzz, f1 * 0.8, f1 * 1.25) + 0.6 * _band(buzz, f2 * 0.85, f2 * 1.2)
        _place(voice, vowel * _env(n, 0.01, dur / 2.5), k * syll, 1.0)
    return out + 0.5 * voice


RECIPES = {"metal": metal, "pop": pop, "rnb": rnb, "rap": rap}


def synth_clip(genre: str, seed: int) -> np.ndarray:
    """10 s mono float32 at 22050 Hz, peak-normalised to 0.9."""
    rng = np.random.default_rng(seed)
    y = RECIPES[genre](rng)
    y = y - y.mean()
    return (0.9 * y / max(1e-9, float(np.abs(y).max()))).astype(np.float32)
