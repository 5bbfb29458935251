import json
import os
import pickle
import subprocess

import numpy as np
import pytest

from lag_core.data.dataset import open_dataset
from lag_core.data.entries import parse_entries
from lag_core.data.lag_pickle import load_lag_pickle
from lag_core.errors import DataError, UnsafePickleError
from lag_core.options import GENRES


def fake_samples(n=8, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        g = i % 4
        mfcc = rng.normal(size=(128, 431)).astype(np.float64)
        mfcc[0] -= 250
        out.append([f"out_Song_{i}_0_{i}", f"line number {i}", mfcc.flatten(), GENRES[g], g])
    return out


def _dump(obj, path):
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


@pytest.mark.parametrize("form", ["lists_of_floats", "tuples_numpy", "dicts", "dict_of_columns", "numpy_scalars"])
def test_release_containers(tmp_path, form):
    samples = fake_samples()
    if form == "lists_of_floats":
        raw = [[s[0], s[1], s[2].tolist(), s[3], s[4]] for s in samples]
    elif form == "tuples_numpy":
        raw = [tuple(s) for s in samples]
    elif form == "dicts":
        raw = [dict(zip(["fileName", "lyrics", "mfcc", "genre", "genreIdx"], s)) for s in samples]
    elif form == "dict_of_columns":
        raw = {k: [s[i] for s in samples] for i, k in enumerate(["fileName", "lyrics", "mfcc", "genre", "genreIdx"])}
    else:
        raw = [[s[0], s[1], s[2].astype(np.float32), np.str_(s[3]), np.int64(s[4])] for s in samples]
    ds = open_dataset(_dump(raw, tmp_path / "lag.pkl"))
    assert len(ds) == 8 and ds.problems == []
    assert ds.mfcc.shape == (8, 128, 431)
    np.testing.assert_allclose(ds.mfcc[3].numpy(), samples[3][2].reshape(128, 431), rtol=1e-6)
    assert ds.entries[5].genre == GENRES[1] and ds.entries[5].genre_idx == 1


def test_dataframe_container(tmp_path):
    pd = pytest.importorskip("pandas")
    samples = fake_samples()
    df = pd.DataFrame(samples, columns=["fileName", "lyrics", "mfcc", "genre", "genreIdx"])
    path = tmp_path / "lag_df.pkl"
    df.to_pickle(path)
    ds = open_dataset(path)
    assert len(ds) == 8 and [e.file_name for e in ds.entries] == [s[0] for s in samples]


def test_time_major_layout(tmp_path):
    samples = fake_samples(4)
    time_major = [[s[0], s[1], s[2].reshape(128, 431).T.flatten(), s[3], s[4]] for s in samples]
    ds = open_dataset(_dump(time_major, tmp_path / "t.pkl"), layout="time-major")
    np.testing.assert_allclose(ds.mfcc[0].numpy(), samples[0][2].reshape(128, 431), rtol=1e-6)


class OsSystem:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Eval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w')",))


class Popen:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


@pytest.mark.parametrize("payload", [OsSystem, Eval, Popen])
def test_malicious_pickles_refused_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    samples = fake_samples(2)
    samples[1][1] = payload(str(marker))
    path = _dump(samples, tmp_path / "evil.pkl")
    with pytest.raises(UnsafePickleError, match="nothing from the file was run"):
        load_lag_pickle(path)
    assert not marker.exists()


def test_validation_errors_name_the_entry(tmp_path):
    samples = fake_samples(4)
    samples[2][2] = samples[2][2][:1000]
    with pytest.raises(DataError, match=r"entry 2 \(out_Song_2_0_2\) has an mfcc array of 1000 float64 values"):
        parse_entries(samples)
    samples = fake_samples(4)
    samples[1][3], samples[1][4] = "polka", 9
    with pytest.raises(DataError, match="unknown genre 'polka'"):
        parse_entries(samples)


def test_validation_problems_are_reported():
    samples = fake_samples(6)
    samples[0][4] = 3  # metal but genreIdx of rap
    samples[1][1] = "   "
    samples[2][0] = samples[3][0]
    samples[4][3] = "Hip-Hop"  # unknown name, valid index -> use the index
    entries, _, problems = parse_entries(samples)
    text = "\n".join(problems)
    assert "disagrees with genreIdx 3" in text and entries[0].genre_idx == 0
    assert "empty lyrics" in text
    assert "appears 2 times" in text
    assert "unknown genre 'hip-hop'" in text and entries[4].genre == "metal"


def test_convert_and_info_cli(tmp_path, lag_cli):
    pkl = _dump(fake_samples(8), tmp_path / "lag.pkl")
    out = tmp_path / "lagds"
    proc = lag_cli("data", "convert", pkl, out, "--json", check=True)
    assert json.loads(proc.stdout)["entries"] == 8
    assert (out / "entries.jsonl").is_file() and (out / "features.safetensors").is_file()
    info = json.loads(lag_cli("data", "info", out, "--json", check=True).stdout)
    assert info["entries"] == 8 and info["genres"] == {"metal": 2, "pop": 2, "rnb": 2, "rap": 2}
    assert info["mfcc_shape"] == [8, 128, 431] and info["problems"] == []
    again = open_dataset(out)
    np.testing.assert_allclose(again.mfcc.numpy(), open_dataset(pkl).mfcc.numpy())
    # existing folder is not overwritten without --force
    proc = lag_cli("data", "convert", pkl, out)
    assert proc.returncode == 2 and "already exists" in proc.stderr


def test_failed_convert_leaves_nothing(tmp_path, lag_cli):
    samples = fake_samples(8)
    samples[6][2] = samples[6][2][:55000]
    pkl = _dump(samples, tmp_path / "bad.pkl")
    out = tmp_path / "never"
    proc = lag_cli("data", "convert", pkl, out)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "entry 6" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pkl"]


def test_truncated_pickle(tmp_path, lag_cli):
    data = pickle.dumps(fake_samples(2))
    bad = tmp_path / "trunc.pkl"
    bad.write_bytes(data[: len(data) // 2])
    proc = lag_cli("data", "info", bad)
    assert proc.returncode == 2 and "corrupt or truncated" in proc.stderr


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_info_reports_nonfinite_mfcc_of_a_folder(tmp_path, lag_cli, bad):
    """Issue 17 item 4: a dataset folder whose features hold NaN/inf is not 'no problems'."""
    import torch
    from safetensors.torch import load_file, save_file

    out = tmp_path / "lagds"
    lag_cli("data", "convert", _dump(fake_samples(4), tmp_path / "lag.pkl"), out, check=True)
    features = load_file(str(out / "features.safetensors"))
    features["mfcc"][2, 5, 7] = bad
    features["mfcc"][2, 100, 400] = bad
    save_file(features, str(out / "features.safetensors"))
    proc = lag_cli("data", "info", out, check=True)
    assert "no problems found" not in proc.stdout
    assert "problem: entry out_Song_2_0_2: its mfcc in features.safetensors holds 2 NaN or infinite values" in proc.stdout
    info = json.loads(lag_cli("data", "info", out, "--json", check=True).stdout)
    assert len(info["problems"]) == 1 and "out_Song_2_0_2" in info["problems"][0]
    assert open_dataset(out).problems == info["problems"] and torch.isfinite(open_dataset(out).mfcc[[0, 1, 3]]).all()
