"""Benchmark: LAG MFCC per 10 s clip, ours (torch) vs librosa, first call in a fresh process and warm.

    .venv/bin/python bench/bench_mfcc.py

Each "first call" figure comes from a new Python process (imports excluded from the timing, the
first MFCC included: for librosa that is where numba compiles). Warm figures are the best of
several repeats. The last two lines compare 64 different clips one call each with the same 64 clips in one call
(the single-clip line reuses one clip, which stays in cache).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

FIRST_CALL = r"""
import json, time, numpy as np
y = np.random.default_rng(0).standard_normal(220500).astype(np.float32) * 0.1
if "{which}" == "ours":
    import torch
    from lag_core.audio.mfcc import mfcc_lag
    x = torch.from_numpy(y)
    t = time.perf_counter(); mfcc_lag(x); dt = time.perf_counter() - t
else:
    import librosa
    t = time.perf_counter(); librosa.feature.mfcc(y=y, sr=22050, n_mfcc=128, n_fft=2048, hop_length=512, n_mels=128); dt = time.perf_counter() - t
print(json.dumps(dt))
"""


def first_call(which: str) -> float:
    out = subprocess.run([sys.executable, "-c", FIRST_CALL.replace("{which}", which)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(fn, repeats=10):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    import librosa
    import numpy as np
    import torch

    from lag_core.audio.mfcc import mfcc_lag

    y = np.random.default_rng(0).standard_normal(220500).astype(np.float32) * 0.1
    x = torch.from_numpy(y)
    batch = torch.randn(64, 220500) * 0.1  # 64 different clips
    ours_first, lib_first = first_call("ours"), first_call("librosa")
    ours_warm = best(lambda: mfcc_lag(x))
    lib_warm = best(lambda: librosa.feature.mfcc(y=y, sr=22050, n_mfcc=128, n_fft=2048, hop_length=512, n_mels=128))
    # Interleave the two so that a noisy neighbour affects both alike; keep the best of each.
    loops, batches = [], []
    for _ in range(7):
        loops.append(best(lambda: [mfcc_lag(clip) for clip in batch], 1) / 64)
        batches.append(best(lambda: mfcc_lag(batch), 1) / 64)
    ours_loop, ours_batch = min(loops), min(batches)
    print(f"threads={torch.get_num_threads()}  (per 10 s clip, ms)")
    print(f"first call, fresh process : ours {ours_first * 1e3:8.1f}   librosa {lib_first * 1e3:8.1f}   ratio {lib_first / ours_first:6.1f}x")
    print(f"warm, one clip            : ours {ours_warm * 1e3:8.2f}   librosa {lib_warm * 1e3:8.2f}   ratio {lib_warm / ours_warm:6.1f}x")
    print(f"warm, 64 clips one by one : ours {ours_loop * 1e3:8.2f} per clip")
    print(f"warm, 64 clips in a batch : ours {ours_batch * 1e3:8.2f} per clip   ({ours_loop / ours_batch:4.2f}x faster than one by one)")


if __name__ == "__main__":
    main()
