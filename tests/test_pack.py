"""The pack as ComfyUI sees it, without a server: import cost, node metadata, bundled workflows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from packinfo import (  # noqa: E402
    API_DIR,
    CORE,
    CORE_DISPLAY_NAMES,
    WORKFLOW_DIR,
    load_pack,
    object_info,
    thumbnail_comment,
)

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
    assert out[0] == "12" and out[1] == "[]" and out[2] == "False"


def test_pyproject_installs_only_lag_core():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["tool"]["setuptools"]["packages"]["find"]["include"] == ["lag_core*"]
    assert data["project"]["scripts"]["lag"] == "lag_core.cli.main:main"
    assert not any(d.startswith("torch==") for d in data["project"]["dependencies"])
    assert not (ROOT / "install.py").exists()


def test_registry_fields():
    """What `comfy node publish` reads (docs.comfy.org/registry/specifications)."""
    import tomllib
    from PIL import Image

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    name = data["project"]["name"]  # the node id: < 100 chars, letters/digits/-/_/., no two specials in a row,
    assert len(name) < 100 and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*", name)  # starts with a letter
    assert re.fullmatch(r"\d+\.\d+\.\d+", data["project"]["version"])
    assert {"Repository", "Documentation", "Bug Tracker"} <= set(data["project"]["urls"])
    comfy = data["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and comfy["requires-comfyui"].startswith(">=")
    # The Icon is a URL to docs/icon.png in the repository: a real square picture, at most 400 px.
    assert comfy["Icon"].startswith(data["project"]["urls"]["Repository"].replace("github.com", "raw.githubusercontent.com"))
    icon = ROOT / comfy["Icon"].split("/main/", 1)[1]
    with Image.open(icon) as im:
        assert im.format == "PNG" and im.width == im.height and 128 <= im.width <= 400
        colors = im.convert("RGB").getcolors(1 << 16)  # None: more than 65536
        assert colors is None or len(colors) > 256  # a picture, not a flat placeholder
    ignored = (ROOT / ".comfyignore").read_text().split()
    assert {"tests/", "bench/", "scripts/"} <= set(ignored) and "docs/icon.png" not in ignored


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
    assert entry.VALIDATE_INPUTS("[sample] LAG sample (64 entries)", 5) is True
    assert "out of range" in entry.VALIDATE_INPUTS("[sample] LAG sample (64 entries)", 99)
    train = pack.NODE_CLASS_MAPPINGS["LAGTrainAttention"]
    assert "not a plain file name" in train.VALIDATE_INPUTS("../evil")


WORKFLOWS = sorted(API_DIR.glob("*.json"))


def _graph(api: dict) -> dict:
    """An API workflow's nodes and inputs, without titles."""
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_ui_and_api_twins_agree(path):
    info = object_info()
    api = json.loads(path.read_text())
    ui = json.loads((WORKFLOW_DIR / path.name).read_text())
    assert ui["version"] and ui["nodes"] and "links" in ui
    for node in ui["nodes"]:
        assert node["type"] in info, f"{node['type']} is neither a pack node nor a known core node"
    assert _graph(ui_to_api(ui, info)) == _graph(api)
    # Links in the UI graph point at real nodes and slots.
    ids = {n["id"]: n for n in ui["nodes"]}
    for link_id, src, src_slot, dst, dst_slot, _type in ui["links"]:
        assert link_id in ids[src]["outputs"][src_slot]["links"]
        assert ids[dst]["inputs"][dst_slot]["link"] == link_id


def test_bundled_workflows_are_what_make_workflows_writes():
    """The graphs are defined once, in scripts/make_workflows.py: a change there needs `make workflows`."""
    from make_workflows import WORKFLOWS as GRAPHS

    assert sorted(GRAPHS) == [p.stem for p in WORKFLOWS]
    for path in WORKFLOWS:
        assert _graph(json.loads(path.read_text())) == _graph(GRAPHS[path.stem]), f"{path.name} is stale: run `make workflows`"


def test_six_workflows_bundled_the_first_one_to_start_with():
    assert len(WORKFLOWS) == 6
    assert sorted(p.name for p in WORKFLOW_DIR.glob("*.json")) == [p.name for p in WORKFLOWS]
    assert WORKFLOWS[0].stem.startswith("1_start_here")
    assert not (ROOT / "workflows").exists()  # one folder: ComfyUI would list a second one's templates twice


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_every_workflow_has_its_thumbnail_made_from_it(path):
    """The template browser shows NAME.jpg as the card. make_workflows.py --thumbnails makes it from the
    workflow's own output and stamps the graph's hash in the JPEG comment: a changed graph needs a new card."""
    from PIL import Image

    jpg = WORKFLOW_DIR / f"{path.stem}.jpg"
    assert jpg.is_file(), f"{jpg.name} is missing: run `make workflows`"
    assert 4_000 < jpg.stat().st_size < 300_000
    with Image.open(jpg) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        assert im.width == im.height and 256 <= im.width <= 1024
        im.load()
        assert im.getextrema() != ((0, 0), (0, 0), (0, 0))
        comment = im.info.get("comment", b"").decode()
    assert comment == thumbnail_comment(json.loads(path.read_text())), f"{jpg.name} is stale: run `make workflows`"


def test_no_stray_thumbnails():
    assert sorted(p.stem for p in WORKFLOW_DIR.glob("*.jpg")) == [p.stem for p in WORKFLOWS]


def test_no_title_is_a_core_node_display_name():
    """A node titled like a core node ("Load CLIP", "Load Audio") cannot be told apart from it."""
    pack = load_pack()
    core_names = set(CORE_DISPLAY_NAMES.values())
    assert not core_names & set(pack.NODE_DISPLAY_NAME_MAPPINGS.values())
    for path in WORKFLOWS:
        for node in json.loads((WORKFLOW_DIR / path.name).read_text())["nodes"]:
            title = node.get("title") or pack.NODE_DISPLAY_NAME_MAPPINGS.get(node["type"], node["type"])
            own = CORE_DISPLAY_NAMES.get(node["type"])
            assert title == own or title not in core_names, f"{path.stem}: node {node['id']} is titled '{title}'"
            if node["type"] in pack.NODE_DISPLAY_NAME_MAPPINGS:
                assert title == pack.NODE_DISPLAY_NAME_MAPPINGS[node["type"]], f"{path.stem}: node {node['id']}"


def test_preview_is_the_image_itself_in_whole_pixel_blocks():
    """ComfyUI fits a preview into max_size x max_size with bilinear resampling (server.send_image): a 64 px
    image sent with 512 came out as a blurred 512 px picture. Now it is sent 4x nearest-neighbour with
    max_size at its own size, so the server leaves it alone."""
    import numpy as np
    import torch
    from PIL import ImageOps

    common = sys.modules[load_pack().__name__ + ".nodes.common"]
    image = torch.rand(1, 64, 48, 3)
    fmt, pil, max_size = common.preview_tuple(image)
    assert fmt == "JPEG" and pil.size == (192, 256) and max_size == 256
    assert ImageOps.contain(pil, (max_size, max_size)).size == pil.size
    small = pil.resize((48, 64), resample=0)  # back to 1:1 with nearest: the very pixels that will be saved
    assert (np.array(small) == (image[0].clamp(0, 1) * 255).round().byte().numpy()).all()
    assert common.preview_tuple(torch.rand(512, 512, 3))[1].size == (512, 512)  # large images keep their size


def test_training_curves_name_the_saved_file():
    from lag_core.viz import plot_training_curves

    history = [{"epoch": i + 1, "train_loss": 2.0 - i * 0.1, "val_loss": 1.5, "val_acc": 0.5} for i in range(3)]
    plain = plot_training_curves(history)
    titled = plot_training_curves(history, title="saved my.safetensors in models/lag/attention\nrefresh")
    assert plain.shape == (1, 300, 760, 3) and titled.shape == (1, 350, 760, 3)
    assert titled[0, :50].min() < 0.5  # the title is drawn above the panels


SCANNED_MODULES = {"subprocess", "socket", "urllib", "http", "websocket", "requests", "httpx", "aiohttp", "importlib", "ctypes"}


def _scanner_findings(path: Path) -> set[str]:
    """What the registry's scanner looks for: eval/exec, subprocess, network, dynamic imports, os.environ writes."""
    import ast

    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"

    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {f"import {a.name.split('.')[0]}" for a in node.names if a.name.split(".")[0] in SCANNED_MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in SCANNED_MODULES:
            found.add(f"import {node.module.split('.')[0]}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec", "__import__", "compile"):
            found.add(f"{node.func.id}()")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if is_environ(node.func.value) and node.func.attr in ("setdefault", "update", "pop", "popitem", "clear", "__setitem__"):
                found.add("os.environ write")
            elif isinstance(node.func.value, ast.Name) and node.func.value.id == "os" and node.func.attr in ("system", "popen", "putenv", "unsetenv"):
                found.add(f"os.{node.func.attr}()")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets):
                found.add("os.environ write")
    return found


def test_what_the_scanner_flags_is_listed_in_the_readme():
    """Every shipped Python file with a flagged call is in the README's table, and the table lists nothing else."""
    ignored = {line.rstrip("/") for line in (ROOT / ".comfyignore").read_text().splitlines() if line and not line.startswith("#")}
    shipped = [ROOT / "__init__.py"] + [p for top in ("nodes", "lag_core") for p in sorted((ROOT / top).rglob("*.py"))]
    assert not [p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in ignored
                and p.name not in ("nodes", "lag_core") and any(p.rglob("*.py"))]  # no other shipped Python
    flagged = {str(p.relative_to(ROOT)): f for p in shipped if (f := _scanner_findings(p))}
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### What the registry's scanner flags", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+\.py)` \|", section, flags=re.M))
    assert set(flagged) == listed, flagged
    assert flagged["lag_core/clip_models.py"] == {"import socket"}
    assert flagged["lag_core/sampler.py"] == {"os.environ write"}
    assert "nodes/common.py" not in flagged and not any("eval()" in f or "exec()" in f for f in flagged.values())


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
