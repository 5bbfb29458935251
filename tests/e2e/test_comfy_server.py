"""End-to-end: the pack inside a real ComfyUI server, driven through its HTTP/websocket API."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from lag_core.comfy.client import ComfyClient, ComfyError
from lag_core.comfy.workflow import ui_to_api

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from packinfo import API_DIR, CORE_DISPLAY_NAMES, WORKFLOW_DIR  # noqa: E402

API_WORKFLOWS = sorted(API_DIR.glob("*.json"))
PACK_NODES = ["LAGLoadLAGEntry", "LAGAudioFeatureEncoder", "LAGLyricAttention", "LAGConditioningCombine",
              "LAGVQGANCLIPSampler", "LAGSamplerOptions", "LAGTrainAttention", "LAGVQGANLoader", "LAGCLIPLoader",
              "LAGLoadAudio"]


def test_pack_imports_cleanly(comfy_server):
    log = comfy_server.log_text()
    assert "IMPORT FAILED" not in log, log[-3000:]
    assert "comfyui-lag" in log  # listed under "Import times for custom nodes"


def test_every_node_is_served_with_tooltips_and_descriptions(comfy_server):
    info = comfy_server.object_info
    for name in PACK_NODES:
        assert name in info, name
        node = info[name]
        assert node["category"].startswith("LAG/") and node["description"]
        for section in ("required", "optional"):
            for inp, spec in (node["input"].get(section) or {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{name}.{inp} has no tooltip"


@pytest.mark.parametrize("workflow", API_WORKFLOWS, ids=[p.stem for p in API_WORKFLOWS])
def test_bundled_api_workflow_runs(comfy_server, workflow, tmp_path):
    api = json.loads(workflow.read_text())
    result = ComfyClient(comfy_server.url).run(api, tmp_path, timeout=600)
    images = [img for out in result.outputs.values() for img in out.get("images", [])]
    assert images, f"{workflow.name} produced no images"
    assert result.files and all(f.stat().st_size > 0 for f in result.files)
    if "frames" in workflow.stem:
        assert len([f for f in result.files if f.name.startswith("frames")]) == 6  # 30 steps, a frame every 5
    if "train" in workflow.stem:  # the saved file's name reaches API clients (and the curves' title)
        trainer = next(nid for nid, node in api.items() if node["class_type"] == "LAGTrainAttention")
        assert result.outputs[trainer]["text"] == [api[trainer]["inputs"]["out_name"] + ".safetensors"]


def test_titles_never_take_a_core_node_display_name(comfy_server):
    """The offline list in scripts/packinfo.py agrees with this server, and no workflow title takes the display
    name of any node this server has that is not ours (except a core node keeping its own name)."""
    info = comfy_server.object_info
    for key, name in CORE_DISPLAY_NAMES.items():
        if key in info:
            assert info[key]["display_name"] == name, key
    core = {node["display_name"] or key: key for key, node in info.items() if key not in PACK_NODES}
    for path in API_WORKFLOWS:
        for nid, node in json.loads(path.read_text()).items():
            title = node["_meta"]["title"]
            assert core.get(title, node["class_type"]) == node["class_type"], f"{path.stem}: node {nid} is titled '{title}'"


@pytest.mark.parametrize("workflow", API_WORKFLOWS, ids=[p.stem for p in API_WORKFLOWS])
def test_ui_twin_converts_to_the_api_workflow(comfy_server, workflow):
    ui = json.loads((WORKFLOW_DIR / workflow.name).read_text())
    api = json.loads(workflow.read_text())
    converted = ui_to_api(ui, comfy_server.object_info)
    strip = lambda wf: {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in wf.items()}  # noqa: E731
    assert strip(converted) == strip(api)


def test_ui_workflow_runs_through_the_cli(comfy_server, tmp_path, lag_cli):
    proc = lag_cli("comfy", "run", WORKFLOW_DIR / "4_text_prompt_vqgan_clip.json", "--server", comfy_server.url,
                   "--set", "3.steps=3", "--set", "3.seed=7", "--out", tmp_path, "--json", check=True)
    summary = json.loads(proc.stdout)
    assert len(summary["files"]) == 1 and Path(summary["files"][0]).is_file()


def test_invalid_input_rejected_with_our_message(comfy_server, lag_cli, tmp_path):
    api = json.loads((API_DIR / "4_text_prompt_vqgan_clip.json").read_text())
    api["3"]["inputs"]["width"] = 100
    with pytest.raises(ComfyError, match="width 100 is not a multiple of the VQGAN's downsampling factor"):
        ComfyClient(comfy_server.url).run(api)
    bad = tmp_path / "bad.json"
    api["3"]["inputs"]["width"] = 64
    api["3"]["inputs"]["prompts"] = "a cat:heavy"
    bad.write_text(json.dumps(api))
    proc = lag_cli("comfy", "run", bad, "--server", comfy_server.url, "--out", tmp_path)
    assert proc.returncode == 2 and "prompt weight must be a number" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_interrupt_stops_a_long_sampler_run(comfy_server):
    api = json.loads((API_DIR / "4_text_prompt_vqgan_clip.json").read_text())
    api["3"]["inputs"]["steps"] = 5000
    api["3"]["inputs"]["seed"] = 12345  # not cached by an earlier run
    client = ComfyClient(comfy_server.url)
    seen: list[int] = []

    def on_progress(value, total, info):
        seen.append(value)
        if len(seen) == 3:
            threading.Thread(target=client.interrupt).start()

    start = time.time()
    with pytest.raises(ComfyError, match="interrupted"):
        client.run(api, progress=on_progress, timeout=300)
    assert time.time() - start < 60
    assert seen and max(seen) < 5000


def test_live_previews_are_the_image_at_its_own_pixels(comfy_server):
    """The server fits each preview into max_size x max_size (bilinear); ours arrive as the 64 px image
    enlarged 4x with nearest-neighbour, not blurred up to 512 px."""
    import io
    import struct
    import urllib.request
    import uuid

    import websocket
    from PIL import Image

    api = json.loads((API_DIR / "4_text_prompt_vqgan_clip.json").read_text())
    api["3"]["inputs"].update(steps=5, seed=4242, preview_every=5)
    client_id = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{comfy_server.port}/ws?clientId={client_id}", timeout=120)
    sizes = []
    try:
        body = json.dumps({"prompt": api, "client_id": client_id}).encode()
        req = urllib.request.Request(comfy_server.url + "/prompt", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            prompt_id = json.loads(resp.read())["prompt_id"]
        deadline = time.time() + 120
        while time.time() < deadline:
            msg = ws.recv()
            if isinstance(msg, bytes):
                event, image_type = struct.unpack(">II", msg[:8])
                if event == 1:  # PREVIEW_IMAGE; image_type 1 = JPEG
                    sizes.append((image_type, Image.open(io.BytesIO(msg[8:])).size))
                continue
            data = json.loads(msg)
            assert data["type"] != "execution_error", data
            if data["type"] == "executing" and data["data"].get("node") is None and data["data"].get("prompt_id") == prompt_id:
                break
    finally:
        ws.close()
    assert sizes and set(sizes) == {(1, (256, 256))}, sizes
