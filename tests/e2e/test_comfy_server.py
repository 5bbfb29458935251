"""End-to-end: the pack inside a real ComfyUI server, driven through its HTTP/websocket API."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from lag_core.comfy.client import ComfyClient, ComfyError, RunCancelled
from lag_core.comfy.workflow import ui_to_api

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from packinfo import API_DIR, CORE_DISPLAY_NAMES, WORKFLOW_DIR  # noqa: E402

API_WORKFLOWS = sorted(API_DIR.glob("*.json"))
PACK_NODES = ["LAGLoadLAGEntry", "LAGAudioFeatureEncoder", "LAGLyricAttention", "LAGConditioningCombine",
              "LAGVQGANCLIPSampler", "LAGSamplerOptions", "LAGTrainAttention", "LAGVQGANLoader", "LAGCLIPLoader",
              "LAGLoadAudio", "LAGSongToVideo", "LAGSaveVideo"]


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
    if "video" in workflow.stem:  # an H.264 MP4 with the song's audio, read back
        import av

        videos = [f for f in result.files if f.suffix == ".mp4"]
        assert len(videos) == 1, result.files
        with av.open(str(videos[0])) as container:
            assert container.streams.audio[0].codec_context.name == "aac"
            frames = sum(1 for _ in container.decode(video=0))
        node = next(n for n in api.values() if n["class_type"] == "LAGSongToVideo")["inputs"]
        assert frames == round(node["duration"] * node["fps"])
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


def _long_run(seed: int) -> dict:
    api = json.loads((API_DIR / "4_text_prompt_vqgan_clip.json").read_text())
    api["3"]["inputs"]["steps"] = 5000
    api["3"]["inputs"]["seed"] = seed  # not cached by an earlier run
    return api


@pytest.mark.parametrize("class_type,inputs", [
    ("LAGLoadAudio", {"audio": "../../../../../../etc/hostname"}),
    ("LAGLoadAudio", {"audio": "[sample] ../../../../../../../etc/hostname"}),
    ("LAGLoadLAGEntry", {"dataset": "../../../../../../etc", "index": 0, "file_name": ""}),
    ("LAGLoadLAGEntry", {"dataset": "/etc", "index": 0, "file_name": ""}),
    ("LAGCLIPLoader", {"clip_name": "[preset] tiny", "open_clip_spec": "ViT-B-32:/etc/hostname", "allow_download": False}),
    ("LAGCLIPLoader", {"clip_name": "[preset] /etc/hostname", "open_clip_spec": "", "allow_download": False}),
])
def test_hostile_prompt_cannot_open_files_outside_the_pack_folders(comfy_server, class_type, inputs):
    """A prompt any client can send: names with `..` or absolute paths are refused in one line that
    says nothing about the rest of the disk, and the server keeps running."""
    api = {"1": {"class_type": class_type, "inputs": inputs}}
    if class_type == "LAGLoadAudio":
        api["2"] = {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}
        api["3"] = {"class_type": "LAGAudioFeatureEncoder", "inputs": {"clip": ["4", 0], "encoder": "untrained statistics encoder",
                                                                       "segment": "first 10 s", "audio": ["1", 0]}}
        api["4"] = {"class_type": "LAGCLIPLoader", "inputs": {"clip_name": "[preset] tiny", "open_clip_spec": "", "allow_download": False}}
        api["2"]["inputs"]["images"] = ["3", 2]
    elif class_type == "LAGLoadLAGEntry":
        api["2"] = {"class_type": "LAGAudioFeatureEncoder", "inputs": {"clip": ["4", 0], "encoder": "untrained statistics encoder",
                                                                       "segment": "first 10 s", "mfcc": ["1", 2]}}
        api["4"] = {"class_type": "LAGCLIPLoader", "inputs": {"clip_name": "[preset] tiny", "open_clip_spec": "", "allow_download": False}}
        api["5"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 2]}}
    else:
        api["2"] = {"class_type": "LAGVQGANCLIPSampler", "inputs": {
            "vqgan": ["3", 0], "clip": ["1", 0], "prompts": "x", "width": 32, "height": 32, "steps": 1, "seed": 0, "lr": 0.1,
            "optimizer": "adam", "cutn": 2, "cut_pow": 1.0, "init": "random", "frame_every": 0, "preview_every": 0}}
        api["3"] = {"class_type": "LAGVQGANLoader", "inputs": {"vqgan_name": "[preset] tiny"}}
        api["5"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").is_file() else "\x00"
    with pytest.raises(ComfyError) as info:
        ComfyClient(comfy_server.url).run(api, timeout=120)
    message = str(info.value)
    assert "pick one from the list" in message or "ARCH:TAG" in message or "unknown preset" in message, message
    assert hostname not in message and "entries" not in message.split("pick one")[0][-40:]
    with urllib.request.urlopen(comfy_server.url + "/object_info/LAGLoadAudio", timeout=10) as resp:
        assert resp.status == 200  # still serving


def test_cancel_interrupts_our_own_running_prompt(comfy_server):
    client = ComfyClient(comfy_server.url)
    seen: list[int] = []
    outcomes = []

    def on_progress(value, total, info):
        seen.append(value)
        if len(seen) == 3:
            threading.Thread(target=lambda: outcomes.append(client.cancel(info["prompt_id"]))).start()

    start = time.time()
    with pytest.raises(ComfyError, match="interrupted"):
        client.run(_long_run(12345), progress=on_progress, timeout=300)
    assert time.time() - start < 60
    assert seen and max(seen) < 5000
    deadline = time.time() + 15
    while not outcomes and time.time() < deadline:
        time.sleep(0.1)
    assert outcomes and outcomes[0].state == "interrupted", outcomes


def test_timeout_behind_another_client_cancels_only_our_own_prompt(comfy_server, tmp_path):
    """Issue 17 item 1: client A, queued behind client B's running job, times out. A must delete
    its own prompt from the queue, leave B running, and say so; A's prompt must never run."""
    b, a = ComfyClient(comfy_server.url), ComfyClient(comfy_server.url)
    b_steps: list[int] = []
    b_running = threading.Event()
    b_result: dict = {}
    b_outcome = None

    def on_b_progress(value, total, info):
        b_steps.append(value)
        b_result["prompt_id"] = info["prompt_id"]
        if len(b_steps) >= 3:
            b_running.set()

    def run_b():
        try:
            b.run(_long_run(777), progress=on_b_progress, timeout=300)
        except ComfyError as exc:
            b_result["error"] = str(exc)

    thread = threading.Thread(target=run_b)
    thread.start()
    try:
        assert b_running.wait(120), "client B's job did not start"
        a_api = json.loads((API_DIR / "4_text_prompt_vqgan_clip.json").read_text())
        a_api["3"]["inputs"]["steps"] = 2
        a_api["3"]["inputs"]["seed"] = 778
        with pytest.raises(RunCancelled) as info:
            a.run(a_api, tmp_path / "a", timeout=3)
        a_id = info.value.prompt_id
        assert info.value.outcome.state == "deleted", str(info.value)
        assert "did not finish within the timeout of 3 s" in str(info.value) and "deleted from the server's queue before it ran" in str(info.value)
        # B keeps running: its steps go on after A gave up.
        steps_then = len(b_steps)
        deadline = time.time() + 60
        while len(b_steps) < steps_then + 3 and thread.is_alive() and time.time() < deadline:
            time.sleep(0.1)
        assert len(b_steps) >= steps_then + 3 and "error" not in b_result, b_result
        running, pending = a.queue()
        assert running == [b_result["prompt_id"]] and a_id not in pending
        # A's cancel of a prompt that is gone says so, and still does not touch B.
        again = a.cancel(a_id)
        assert again.state == "unknown" and thread.is_alive()
        # Ctrl-C on `lag comfy run` queued behind B: its own prompt is deleted, B runs on.
        workflow = tmp_path / "a2.json"
        a_api["3"]["inputs"]["seed"] = 780
        workflow.write_text(json.dumps(a_api))
        cli = subprocess.Popen([str(Path(sys.executable).parent / "lag"), "comfy", "run", str(workflow), "--server",
                                comfy_server.url, "--out", str(tmp_path / "a2")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               # Ctrl-C reaches it even when the suite runs as a background job (`make test &`),
                               # whose children inherit SIGINT ignored and so never see it.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 60
        while not a.queue()[1] and cli.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        (a2_id,) = a.queue()[1]
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
        assert cli.returncode == 130, err
        assert err == f"lag comfy run: interrupted: stopped by Ctrl-C; prompt {a2_id} was deleted from the server's queue before it ran\n"
        assert thread.is_alive() and "error" not in b_result and a.history(a2_id) is None
    finally:
        if "prompt_id" in b_result:
            b_outcome = b.cancel(b_result["prompt_id"])
        thread.join(120)
    assert b_outcome.state == "interrupted" and "interrupted" in b_result.get("error", ""), (b_outcome, b_result)
    assert max(b_steps) < 5000
    # A's prompts never ran, not even after B's job ended.
    time.sleep(2)
    for prompt_id in (a_id, a2_id):
        assert a.history(prompt_id) is None and prompt_id not in sum(a.queue(), [])
    assert not (tmp_path / "a").exists()


def test_cancel_after_the_run_finished_says_so(comfy_server):
    client = ComfyClient(comfy_server.url)
    api = json.loads((API_DIR / "4_text_prompt_vqgan_clip.json").read_text())
    api["3"]["inputs"]["steps"] = 2
    api["3"]["inputs"]["seed"] = 779
    result = client.run(api, timeout=300)
    outcome = client.cancel(result.prompt_id)
    assert outcome.state == "finished" and "already finished (success)" in outcome.text


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
