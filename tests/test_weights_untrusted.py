"""Issue 17 item 2: weight-file metadata is not trusted. It decides only what the pack itself knows
how to build, never a download; a file's tensors (names and shapes, from the safetensors header)
are checked against the config before the model is allocated; absurd sizes are refused with the
estimate. Real safetensors files written here; real open_clip and our VQGAN."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lag_core.clip_models import CLIP_CONFIG_KEY, load_clip, save_clip
from lag_core.errors import WeightsError
from lag_core.vqgan import load_vqgan
from lag_core.vqgan.loader import CONFIG_KEY, save_vqgan

ROOT = Path(__file__).resolve().parent.parent
TINY_CFG = json.loads((ROOT / "lag_core" / "model_configs" / "clip" / "lag-tiny-clip.json").read_text())


@pytest.fixture()
def no_network(monkeypatch):
    """Every connection attempt is recorded (and fails): the test asserts there were none."""
    attempts: list = []
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError("network use in a test that must not touch the network")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def _clip_file(path: Path, cfg: dict, tensors: dict | None = None) -> Path:
    tensors = tensors if tensors is not None else {"x": torch.zeros(2)}
    save_file(tensors, str(path), metadata={"lag_format": "clip", CLIP_CONFIG_KEY: json.dumps({"model_cfg": cfg})})
    return path


@pytest.mark.parametrize("key,value", [("hf_model_name", "xlm-roberta-base"), ("hf_tokenizer_name", "timm/ViT-B-16-SigLIP")])
def test_metadata_never_triggers_a_download(tmp_path, tiny_models, no_network, key, value):
    _, clip = tiny_models
    cfg = json.loads(json.dumps(clip.model_cfg))
    cfg["text_cfg"][key] = value
    state = {k: v.contiguous() for k, v in clip.model.state_dict().items() if not k.endswith("attn_mask")}
    path = _clip_file(tmp_path / "hf.safetensors", cfg, state)
    with pytest.raises(WeightsError, match=rf"asks for parts fetched from Hugging Face's hub \({key} '{value}'\); "
                                           "a file's own config never downloads anything") as info:
        load_clip(str(path))
    assert "\n" not in str(info.value)
    # The same in an open_clip local-dir folder, whose config is just as untrusted.
    folder = tmp_path / "dir"
    folder.mkdir()
    save_file(state, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    with pytest.raises(WeightsError, match="Hugging Face's hub"):
        load_clip(str(folder))
    assert no_network == []


def test_builtin_architecture_that_needs_the_hub_asks_for_download(tmp_path, no_network):
    weights = tmp_path / "siglip.safetensors"
    save_file({"x": torch.zeros(2)}, str(weights))
    for spec in (f"ViT-B-16-SigLIP:{weights}", "ViT-B-16-SigLIP:random", "nllb-clip-base:random"):
        with pytest.raises(WeightsError, match=r"from Hugging Face's hub, which is fetched only when downloads are allowed: pass --download"):
            load_clip(spec)
    assert no_network == []


RSS_PROBE = """
import json, resource, sys, time
from lag_core.clip_models import load_clip
from lag_core.errors import WeightsError
start = time.perf_counter()
try:
    load_clip(sys.argv[1])
    result = "loaded"
except WeightsError as exc:
    result = str(exc)
print(json.dumps({"result": result, "seconds": time.perf_counter() - start,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _probe(spec: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", RSS_PROBE, spec], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_big_architecture_is_not_built_before_the_file_is_checked(tmp_path):
    """ViT-bigG-14 (2.5 billion parameters, 10 GB in float32) plus a file that holds no CLIP
    weights: refused from the header, without building the model (memory stays that of imports)."""
    not_weights = tmp_path / "notes.safetensors"
    save_file({"x": torch.zeros(3)}, str(not_weights))
    probe = _probe(f"ViT-bigG-14:{not_weights}")
    assert probe["result"].startswith(f"CLIP weights '{not_weights}' do not fit architecture 'ViT-bigG-14' (missing ["), probe
    assert "unexpected ['x']" in probe["result"]
    assert probe["max_rss_mb"] < 3000, probe  # imports alone peak near 2 GB here (2010 MB once); the model would be 10 GB
    # A file whose own metadata names that architecture: the same, from its header.
    bigg = json.loads(json.dumps(__import__("open_clip").get_model_config("ViT-bigG-14")))
    own = _clip_file(tmp_path / "bigg.safetensors", bigg)
    probe = _probe(str(own))
    assert "do not match the file's own config" in probe["result"] and probe["max_rss_mb"] < 3000, probe


def test_tensors_checked_against_the_config_before_building(tmp_path, tiny_models):
    _, clip = tiny_models
    path = save_clip(clip, tmp_path / "clip.safetensors")
    state = {k: v.contiguous() for k, v in clip.model.state_dict().items() if not k.endswith("attn_mask")}
    state["visual.proj"] = torch.zeros(3, 5)  # a shape the config does not give
    bad = _clip_file(tmp_path / "bad.safetensors", clip.model_cfg, state)
    with pytest.raises(WeightsError, match=r"do not match the file's own config \(missing \[\], unexpected \[\], "
                                           r"shapes that differ \['visual.proj \[3, 5\] vs \[64, 64\]'\]\); convert it again"):
        load_clip(str(bad))
    with pytest.raises(WeightsError, match=r"shapes that differ \['visual.proj \[3, 5\] vs \[64, 64\]'\]"):
        load_clip(f"lag-tiny-clip:{bad}")
    # ... and in a pickled checkpoint (no header: read memory-mapped, checked the same way).
    pt = tmp_path / "bad.pt"
    torch.save(state, pt)
    with pytest.raises(WeightsError, match=r"shapes that differ \['visual.proj"):
        load_clip(f"lag-tiny-clip:{pt}")
    assert torch.equal(load_clip(str(path)).embed_texts(["x"]), clip.embed_texts(["x"]))  # the good file still loads


@pytest.mark.parametrize("where,key,value,says", [
    ("vision_cfg", "width", 2**26, r"vision_cfg.width = 67108864; expected whole numbers from 1 to 32768"),
    ("text_cfg", "layers", 10**6, r"text_cfg.layers = 1000000; expected whole numbers from 1 to 256"),
    ("text_cfg", "width", "64", r"text_cfg.width = \"64\""),
    ("vision_cfg", "mlp_ratio", float("inf"), r"vision_cfg.mlp_ratio = Infinity"),
    ("", "embed_dim", -1, r"embed_dim = -1"),
])
def test_config_out_of_any_clip_size_refused(tmp_path, where, key, value, says):
    cfg = json.loads(json.dumps(TINY_CFG))
    (cfg[where] if where else cfg)[key] = value
    with pytest.raises(WeightsError, match=says) as info:
        load_clip(str(_clip_file(tmp_path / "odd.safetensors", cfg)))
    assert "\n" not in str(info.value)


def test_absurd_clip_refused_with_its_estimate(tmp_path):
    """A small file whose metadata asks for 256 layers of width 32768 (within each bound, 6.6
    trillion parameters): refused with the estimate, from a meta-device count, nothing allocated."""
    cfg = {"embed_dim": 1024, "vision_cfg": {"image_size": 224, "layers": 256, "width": 32768, "head_width": 64, "patch_size": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32768, "heads": 512, "layers": 256}}
    path = _clip_file(tmp_path / "huge.safetensors", cfg)
    assert path.stat().st_size < 1000
    with pytest.raises(WeightsError, match=r"is a CLIP of 6\d{3}\.\d\d billion parameters: loading it needs about "
                                           r"\d+\.\d TiB \(float32, with the file's tensors\), more than this machine's"):
        load_clip(str(path))
    with pytest.raises(WeightsError, match=r"not valid JSON \(RecursionError\)"):
        load_clip(_deep(tmp_path))


def _deep(tmp_path: Path) -> str:
    path = tmp_path / "deep.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={CLIP_CONFIG_KEY: "[" * 100_000 + "]" * 100_000})
    return str(path)


def test_vqgan_header_checked_before_tensors_are_read(tmp_path, tiny_models):
    vqgan, _ = tiny_models
    good = save_vqgan(vqgan, tmp_path / "vq.safetensors")
    tensors = {k: v.contiguous() for k, v in vqgan.state_dict().items()}
    tensors["quantize.embedding.weight"] = tensors["quantize.embedding.weight"][:, :1].contiguous()
    meta = {CONFIG_KEY: vqgan.cfg.to_json()}
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(WeightsError, match=r"do not fit the VQGAN config .* shapes that differ \['quantize.embedding.weight \["):
        load_vqgan(tmp_path / "bad.safetensors")
    # A metadata config beyond any VQGAN, in a tiny file: refused before any model is built.
    cfg = json.loads(vqgan.cfg.to_json())
    for key, value, says in (("ch", 2**20, "ch = 1048576"), ("ch_mult", [1] * 40, "ch_mult = "),
                             ("num_res_blocks", 10**6, "num_res_blocks = 1000000")):
        save_file({"x": torch.zeros(1)}, str(tmp_path / "odd.safetensors"),
                  metadata={CONFIG_KEY: json.dumps({**cfg, key: value})})
        with pytest.raises(WeightsError, match=f"has {says}.*outside what any VQGAN uses"):
            load_vqgan(tmp_path / "odd.safetensors")
    # Within the bounds but absurd together: the estimate says so.
    save_file({"x": torch.zeros(1)}, str(tmp_path / "huge.safetensors"),
              metadata={CONFIG_KEY: json.dumps({**cfg, "ch": 4096, "ch_mult": [64] * 8, "num_res_blocks": 64,
                                                "norm_groups": 32, "quantizer": "vq", "fsq_levels": []})})
    with pytest.raises(WeightsError, match=r"is a VQGAN of \d+\.\d\d billion parameters: loading it needs about .* more than this machine's"):
        load_vqgan(tmp_path / "huge.safetensors")
    for text in ("not json", "[" * 100_000):
        save_file({"x": torch.zeros(1)}, str(tmp_path / "text.safetensors"), metadata={CONFIG_KEY: text})
        with pytest.raises(WeightsError, match="metadata of .* is not a VQGAN config"):
            load_vqgan(tmp_path / "text.safetensors")
    again = load_vqgan(good)
    z = torch.randn(1, vqgan.cfg.embed_dim, 4, 4)
    torch.testing.assert_close(again.decode(again.quantize(z)), vqgan.decode(vqgan.quantize(z)))
