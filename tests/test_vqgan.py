import json
import os
import sys
import types

import pytest
import torch

from lag_core.errors import UnsafePickleError, WeightsError
from lag_core.models import named_config
from lag_core.safeload import read_weights
from lag_core.vqgan import VQGAN, VQGANConfig, convert_vqgan, infer_config, load_vqgan
from tests.taming_layout import taming_vqmodel_shapes

TINY = VQGANConfig.from_dict(named_config("vqgan", "tiny"))

TINY_TAMING = dict(ch=32, ch_mult=(1, 1, 2), num_res_blocks=1, attn_resolutions=(16,), resolution=64,
                   z_channels=32, embed_dim=32, n_embed=256)


def random_taming_state(seed=0, **cfg):
    """A state dict with taming's exact keys and shapes, built without our VQGAN class."""
    g = torch.Generator().manual_seed(seed)
    shapes = taming_vqmodel_shapes(**cfg)
    state = {}
    for key, shape in shapes.items():
        fan_in = max(1, int(torch.tensor(shape[1:]).prod())) if len(shape) > 1 else 1
        if key.endswith("norm1.weight") or key.endswith("norm2.weight") or ".norm" in key and key.endswith(".weight"):
            state[key] = 1 + 0.05 * torch.randn(shape, generator=g)
        else:
            state[key] = torch.randn(shape, generator=g) / fan_in**0.5
    return state


def test_full_size_f16_16384_matches_taming_layout_and_size():
    cfg = VQGANConfig()  # vqgan_imagenet_f16_16384
    with torch.device("meta"):
        model = VQGAN(cfg)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = taming_vqmodel_shapes(ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, attn_resolutions=(16,),
                                   resolution=256, z_channels=256, embed_dim=256, n_embed=16384)
    assert ours == theirs
    assert len(ours) == 343
    params = sum(v.numel() for v in model.state_dict().values())
    assert abs(params / 1e6 - 76.07) < 0.01
    assert cfg.downsample_factor == 16


def test_tiny_state_dict_loads_strictly_and_round_trips(tmp_path):
    state = random_taming_state(**TINY_TAMING)
    model = VQGAN(VQGANConfig(**TINY_TAMING))
    model.load_state_dict(state, strict=True)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    z = model.encode(x)
    assert z.shape == (2, 32, 8, 12)
    zq = model.quantize(z)
    codes = model.quantize.codes(z)
    torch.testing.assert_close(model.quantize.lookup(codes), zq)
    # every quantized vector is a codebook row
    book = model.quantize.embedding.weight
    flat = zq.detach().movedim(1, -1).reshape(-1, 32)  # [N, D]
    assert (flat[:, None] - book.detach()[None]).abs().amax(-1).min(1).values.max() < 1e-5
    y = model.decode(zq)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_fewer_norm_groups_keep_the_taming_state_dict():
    """norm_groups changes GroupNorm statistics only: a taming state dict still loads strictly."""
    import dataclasses

    state = random_taming_state(**TINY_TAMING)
    cfg = dataclasses.replace(VQGANConfig(**TINY_TAMING), norm_groups=8)
    model = VQGAN(cfg)
    model.load_state_dict(state, strict=True)
    assert model.decoder.norm_out.num_groups == 8
    assert VQGANConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_infer_config_from_shapes():
    state = random_taming_state(**TINY_TAMING)
    cfg = infer_config(state, resolution=64)
    assert cfg == VQGANConfig(**TINY_TAMING)
    full = taming_vqmodel_shapes(ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, attn_resolutions=(16,),
                                 resolution=256, z_channels=256, embed_dim=256, n_embed=1024)
    meta = {k: torch.empty(s, device="meta") for k, s in full.items()}
    assert infer_config(meta) == VQGANConfig(n_embed=1024)


class FakeModelCheckpoint:
    """Stands in for pytorch_lightning's ModelCheckpoint in a pickled Lightning checkpoint."""

    def __init__(self):
        self.best_model_path = "logs/last.ckpt"
        self.monitor = "val/rec_loss"


def _lightning_ckpt(path, state, with_prefix=False):
    names = ["pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"]
    mods = [types.ModuleType(n) for n in names]
    mod = mods[-1]
    FakeModelCheckpoint.__module__ = mod.__name__
    FakeModelCheckpoint.__qualname__ = "ModelCheckpoint"
    mod.ModelCheckpoint = FakeModelCheckpoint
    mods[0].callbacks, mods[1].model_checkpoint = mods[1], mods[2]
    assert not any(n in sys.modules for n in names), "real Lightning must not be importable here"
    sys.modules.update(zip(names, mods))
    try:
        sd = dict(state)
        sd["loss.discriminator.main.0.weight"] = torch.randn(4, 3, 4, 4)
        sd["loss.perceptual_loss.lin0.model.1.weight"] = torch.randn(1, 64, 1, 1)
        if with_prefix:
            sd = {f"first_stage_model.{k}": v for k, v in sd.items()}
        torch.save({
            "epoch": 3,
            "global_step": 1234,
            "pytorch-lightning_version": "1.0.8",
            "state_dict": sd,
            "callbacks": {FakeModelCheckpoint: FakeModelCheckpoint()},
            "optimizer_states": [],
        }, path)
    finally:
        for n in names:
            del sys.modules[n]


@pytest.mark.parametrize("with_prefix", [False, True])
def test_lightning_checkpoint_with_callback_state_loads(tmp_path, with_prefix):
    state = random_taming_state(**TINY_TAMING)
    ckpt = tmp_path / "last.ckpt"
    _lightning_ckpt(ckpt, state, with_prefix)
    (tmp_path / "model.yaml").write_text(
        "model:\n  target: taming.models.vqgan.VQModel\n  params:\n    embed_dim: 32\n    n_embed: 256\n"
        "    ddconfig:\n      double_z: false\n      z_channels: 32\n      resolution: 64\n      in_channels: 3\n"
        "      out_ch: 3\n      ch: 32\n      ch_mult: [1, 1, 2]\n      num_res_blocks: 1\n"
        "      attn_resolutions: [16]\n      dropout: 0.0\n"
    )
    model = load_vqgan(ckpt)
    assert model.cfg == VQGANConfig(**TINY_TAMING)
    ref = VQGAN(VQGANConfig(**TINY_TAMING)).eval()
    ref.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))


def test_config_inferred_without_yaml_and_convert_round_trip(tmp_path, lag_cli):
    state = random_taming_state(**TINY_TAMING)
    ckpt = tmp_path / "last.ckpt"
    _lightning_ckpt(ckpt, state)
    model = load_vqgan(ckpt)
    out = tmp_path / "vq.safetensors"
    proc = lag_cli("convert-weights", ckpt, out, "--json", check=True)
    assert '"kind": "vqgan"' in proc.stdout
    _, meta = read_weights(out)
    assert meta["lag_format"] == "vqgan" and "lag_vqgan_config" in meta
    again = load_vqgan(out)
    assert again.cfg == model.cfg
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    half = tmp_path / "vq16.safetensors"
    convert_vqgan(ckpt, half, dtype=torch.float16)
    assert half.stat().st_size < out.stat().st_size * 0.6


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class EvalEvil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').write('x')",))


@pytest.mark.parametrize("payload", [Evil, EvalEvil])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, payload):
    marker = tmp_path / "pwned"
    state = random_taming_state(**TINY_TAMING)
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": state, "hook": payload(str(marker))}, ckpt)
    with pytest.raises(UnsafePickleError) as info:
        load_vqgan(ckpt)
    assert "nothing from the file was run" in str(info.value)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_bad_files_give_one_clear_line(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_vqgan(tmp_path / "missing.ckpt")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        load_vqgan(empty)
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": random_taming_state(**TINY_TAMING)}, good)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_vqgan(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}xxxxxx")
    with pytest.raises(WeightsError, match="safetensors"):
        load_vqgan(garbage)
    # Shapes that fit no config: a decoder whose conv_in does not match the latent channels.
    state = random_taming_state(**TINY_TAMING)
    state["decoder.conv_in.weight"] = torch.randn(64, 7, 3, 3)
    odd = tmp_path / "odd.ckpt"
    torch.save({"state_dict": state}, odd)
    with pytest.raises(WeightsError, match="do not fit"):
        load_vqgan(odd)
    notvq = tmp_path / "notvq.ckpt"
    torch.save({"state_dict": {"fc.weight": torch.randn(3, 3)}}, notvq)
    with pytest.raises(WeightsError, match="taming VQGAN key"):
        load_vqgan(notvq)


def test_gumbel_variant_refused_clearly(tmp_path):
    state = random_taming_state(**TINY_TAMING)
    del state["quantize.embedding.weight"]
    state["quantize.embed.weight"] = torch.randn(256, 32)
    state["quantize.proj.weight"] = torch.randn(256, 32, 1, 1)
    path = tmp_path / "gumbel.ckpt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(WeightsError, match="Gumbel"):
        load_vqgan(path)


def test_tiny_preset_config_factor():
    assert TINY.downsample_factor == 8
