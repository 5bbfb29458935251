"""The model factory: one lookup order for every kind, named architectures as JSON, cache signatures."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from lag_core.errors import InputError, WeightsError
from lag_core.models import (
    CONFIG_DIR,
    WEIGHTS_DIR,
    config_names,
    make_attention,
    make_clip,
    make_preset,
    make_vqgan,
    resolve,
)


def test_named_architectures_are_json_configs():
    assert config_names("clip") == ["tiny", "toyworld-arch"]
    assert config_names("vqgan") == ["tiny", "toyworld-arch"]
    assert not list(CONFIG_DIR.glob("*.py"))
    vqgan = make_vqgan("toyworld-arch", seed=1)
    assert vqgan.cfg.quantizer == "fsq" and vqgan.cfg.norm_groups == 8 and vqgan.downsample_factor == 8
    a, b = make_vqgan("tiny", seed=2), make_vqgan("tiny", seed=2)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())  # seeded
    assert not torch.equal(a.quantize.embedding.weight, make_vqgan("tiny", seed=3).quantize.embedding.weight)


def test_presets_resolve_to_files_and_configs():
    toy = resolve("clip", "toyworld")
    assert toy.source == "file" and toy.path == WEIGHTS_DIR / "toyworld" / "clip.safetensors"
    assert resolve("vqgan", "tiny").source == "config"
    assert resolve("attention", "toyworld", "bahdanau").path.name == "toyworld_lyric_attention_bahdanau.safetensors"
    with pytest.raises(InputError, match="unknown model kind"):
        resolve("lora", "tiny")


@pytest.mark.parametrize("kind", ["vqgan", "clip", "attention"])
def test_bare_names_are_looked_up_in_the_same_folders_for_every_kind(kind, tmp_path, monkeypatch, tiny_models):
    """$LAG_WEIGHTS_DIR/<kind>/ first, with or without the suffix; the README promises it for every kind."""
    from lag_core.clip_models import save_clip
    from lag_core.vqgan import save_vqgan

    monkeypatch.setenv("LAG_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / kind).mkdir()
    target = tmp_path / kind / "mine.safetensors"
    vqgan, clip = tiny_models
    if kind == "vqgan":
        save_vqgan(vqgan, target)
    elif kind == "clip":
        save_clip(clip, target)
    else:
        target.write_bytes((WEIGHTS_DIR / "attention" / "tiny_lyric_attention_mha.safetensors").read_bytes())
    for name in ("mine", "mine.safetensors"):
        ref = resolve(kind, name)
        assert ref.source == "file" and ref.path == target
    if kind == "clip":
        assert make_clip("mine").model_id == clip.model_id
    elif kind == "vqgan":
        assert make_vqgan("mine").cfg == vqgan.cfg
    else:
        assert make_attention("mine", clip).cfg.clip_model_id == clip.model_id
    with pytest.raises(WeightsError, match=str(tmp_path / kind)):
        resolve(kind, "nothing-here")


def test_open_clip_specs_resolve_after_files(tmp_path):
    ref = resolve("clip", "ViT-B-32-quickgelu:openai")
    assert ref.source == "open_clip" and ref.path is None
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    assert resolve("clip", f"ViT-B-32:{weights}").path == weights


def test_signature_follows_the_file_behind_a_spec(tmp_path):
    """A cache keyed by the signature reloads when the file behind a name or an ARCH:FILE spec changes."""
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"one")
    spec = f"ViT-B-32:{weights}"
    first = resolve("clip", spec).signature
    time.sleep(0.01)
    weights.write_bytes(b"two!")
    os.utime(weights, ns=(time.time_ns(), time.time_ns()))
    assert resolve("clip", spec).signature != first
    assert resolve("clip", "tiny").signature == resolve("clip", "tiny").signature


def test_preset_models_load(tiny_models):
    vqgan, clip = make_preset("tiny")
    assert clip.model_id == tiny_models[1].model_id and vqgan.cfg == tiny_models[0].cfg


def test_no_import_circle_and_cheap_vocabulary():
    """Importing the vocabulary, the factory or the errors pulls in no torch; lag_core imports in any order."""
    code = ("import sys\n"
            "import lag_core.options, lag_core.models, lag_core.errors\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "import importlib, pkgutil, lag_core\n"
            "for m in pkgutil.walk_packages(lag_core.__path__, 'lag_core.'):\n"
            "    importlib.import_module(m.name)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
