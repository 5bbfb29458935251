import json

import pytest
import torch

from lag_core.clip_models import save_clip
from lag_core.errors import WeightsError
from lag_core.models import make_clip


def test_tiny_preset_is_seeded(tiny_models):
    _, clip = tiny_models
    again = make_clip("tiny")
    assert clip.image_size == 32 and clip.embed_dim == 64
    e1, e2 = clip.embed_texts(["metal", "pop"]), again.embed_texts(["metal", "pop"])
    torch.testing.assert_close(e1, e2)
    assert torch.allclose(e1.norm(dim=-1), torch.ones(2))
    assert not torch.allclose(e1[0], e1[1])


def test_own_file_round_trip(tmp_path, tiny_models):
    _, clip = tiny_models
    path = save_clip(clip, tmp_path / "clip.safetensors")
    loaded = make_clip(str(path))
    torch.testing.assert_close(loaded.embed_texts(["a dark sea"]), clip.embed_texts(["a dark sea"]))
    img = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded.image_features(img), clip.image_features(img))
    assert loaded.model_id == clip.model_id


def test_arch_plus_file_and_folder(tmp_path, tiny_models):
    _, clip = tiny_models
    from safetensors.torch import save_file

    weights = tmp_path / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in clip.model.state_dict().items()}, str(weights))
    by_arch = make_clip(f"lag-tiny-clip:{weights}")
    torch.testing.assert_close(by_arch.embed_texts(["x"]), clip.embed_texts(["x"]))
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": clip.model_cfg}))
    by_dir = make_clip(str(tmp_path))
    torch.testing.assert_close(by_dir.embed_texts(["x"]), clip.embed_texts(["x"]))


def test_clip_spec_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match="is not a preset"):
        make_clip("nonsense")
    with pytest.raises(WeightsError, match="unknown open_clip architecture"):
        make_clip("NoSuchArch:openai")
    with pytest.raises(WeightsError, match="no pretrained tag"):
        make_clip("ViT-B-32:no-such-tag")
    # Not cached, and no --download: fails at once (no network traffic), saying what to do.
    with pytest.raises(WeightsError, match="--download"):
        make_clip("ViT-B-32-quickgelu:openai", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="does not exist"):
        make_clip(f"ViT-B-32:{tmp_path}/missing.safetensors")
    plain = tmp_path / "plain.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(plain))
    with pytest.raises(WeightsError, match="does not say which CLIP architecture"):
        make_clip(str(plain))
    with pytest.raises(WeightsError, match="do not fit"):
        make_clip(f"lag-tiny-clip:{plain}")


@pytest.mark.parametrize("spec", ["tiny", "toyworld"])
def test_batch_first_attention_matches_open_clip(spec):
    """The vision tower's self-attention runs through one linear + SDPA; outputs and input
    gradients must be open_clip's own (up to summation order), and the model must still deep-copy and pickle."""
    import copy
    import pickle

    clip = make_clip(spec)
    blocks = list(clip.model.visual.transformer.resblocks)
    assert all("attention" in b.__dict__ for b in blocks)
    images = torch.rand(4, 3, clip.image_size, clip.image_size, generator=torch.Generator().manual_seed(0))

    def run():
        x = images.clone().requires_grad_(True)
        emb = clip.image_features(x)
        emb.square().sum().backward()
        return emb.detach(), x.grad

    ours = run()
    saved = [b.__dict__.pop("attention") for b in blocks]  # back to open_clip's nn.MultiheadAttention path
    reference = run()
    for b, fn in zip(blocks, saved):
        b.attention = fn
    # The same maths; SDPA and nn.MultiheadAttention may sum in another order on some CPUs (seen: input
    # gradients of the toy-world CLIP 1.9e-5 apart on one 2-core machine), so equal up to rounding.
    torch.testing.assert_close(ours[0], reference[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours[1], reference[1], rtol=1e-4, atol=1e-4)
    copied = copy.deepcopy(clip.model)
    assert copied.visual.transformer.resblocks[0].attention.args[0] is copied.visual.transformer.resblocks[0]
    restored = pickle.loads(pickle.dumps(clip.model))
    torch.testing.assert_close(restored.encode_image(clip.normalize_pixels(images)), ours[0])
