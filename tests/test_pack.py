"""The pack as ComfyUI sees it, without a server: import cost, node metadata, bundled workflows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from packinfo import CORE, load_pack, object_info  # noqa: E402

from lag_core.comfy.workflow import api_to_ui, set_inputs, ui_to_api  # noqa: E402
from lag_core.errors import InputError  # noqa: E402


def test_import_is_cheap_and_never_installs_a_top_level_nodes_module():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('comfyui-lag', r'{ROOT / '__init__.py'}', "
        f"submodule_search_locations=[r'{ROOT}'])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['comfyui-lag'] = m; spec.loader.exec_module(m)\n"
        "heavy = [n for n in ('open_clip', 'librosa', 'soundfile', 'numba', 'kornia') if n in sys.modules]\n"
        "print(len(m.NODE_CLASS_MAPPINGS), heavy, 'nodes' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "10" and out[1] == "[]" and out[2] == "False"


def test_pyproject_installs_only_lag_core():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["tool"]["setuptools"]["packages"]["find"]["include"] == ["lag_core*"]
    assert data["project"]["scripts"]["lag"] == "lag_core.cli.main:main"
    assert {"PublisherId", "DisplayName", "Icon"} <= set(data["tool"]["comfy"])
    assert not any(d.startswith("torch==") for d in data["project"]["dependencies"])
    assert not (ROOT / "install.py").exists()


def test_node_metadata():
    pack = load_pack()
    for key, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert key.startswith("LAG") and key in pack.NODE_DISPLAY_NAME_MAPPINGS
        assert cls.CATEGORY.startswith("LAG/") and cls.DESCRIPTION
        assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
        for inputs in cls.INPUT_TYPES().values():
            for name, spec in inputs.items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{key}.{name}"


def test_validate_inputs_messages():
    pack = load_pack()
    sampler = pack.NODE_CLASS_MAPPINGS["LAGVQGANCLIPSampler"]
    assert sampler.VALIDATE_INPUTS(64, 64, "a\nb:2") is True
    assert "not a multiple" in sampler.VALIDATE_INPUTS(100, 64, "")
    assert "prompt weight must be a number" in sampler.VALIDATE_INPUTS(64, 64, "x:heavy")
    assert sampler.VALIDATE_INPUTS(None, None, None) is True  # linked inputs are checked at run time
    entry = pack.NODE_CLASS_MAPPINGS["LAGLoadLAGEntry"]
    assert entry.VALIDATE_INPUTS("[sample] LAG sample (24 entries)", 5) is True
    assert "out of range" in entry.VALIDATE_INPUTS("[sample] LAG sample (24 entries)", 99)
    train = pack.NODE_CLASS_MAPPINGS["LAGTrainAttention"]
    assert "not a plain file name" in train.VALIDATE_INPUTS("../evil")


WORKFLOWS = sorted((ROOT / "workflows" / "api").glob("*.json"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_ui_and_api_twins_agree(path):
    info = object_info()
    api = json.loads(path.read_text())
    ui = json.loads((ROOT / "workflows" / path.name).read_text())
    assert ui["version"] and ui["nodes"] and "links" in ui
    for node in ui["nodes"]:
        assert node["type"] in info, f"{node['type']} is neither a pack node nor a known core node"
    strip = lambda wf: {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in wf.items()}  # noqa: E731
    assert strip(ui_to_api(ui, info)) == strip(api)
    # Links in the UI graph point at real nodes and slots.
    ids = {n["id"]: n for n in ui["nodes"]}
    for link_id, src, src_slot, dst, dst_slot, _type in ui["links"]:
        assert link_id in ids[src]["outputs"][src_slot]["links"]
        assert ids[dst]["inputs"][dst_slot]["link"] == link_id


def test_five_workflows_bundled():
    assert len(WORKFLOWS) == 5
    assert sorted(p.name for p in (ROOT / "workflows").glob("*.json")) == sorted(p.name for p in WORKFLOWS)


def test_set_inputs_and_round_trip():
    info = object_info()
    api = json.loads(WORKFLOWS[0].read_text())
    set_inputs(api, ["5.steps=3", "5.prompts=a storm"])
    assert api["5"]["inputs"]["steps"] == 3 and api["5"]["inputs"]["prompts"] == "a storm"
    with pytest.raises(InputError, match="NODE_ID.input=value"):
        set_inputs(api, ["steps=3"])
    with pytest.raises(InputError, match="does not have"):
        set_inputs(api, ["99.steps=3"])
    again = ui_to_api(api_to_ui(api, info), info)
    assert {k: v["inputs"] for k, v in again.items()} == {k: v["inputs"] for k, v in api.items()}
    assert "SaveImage" in CORE
