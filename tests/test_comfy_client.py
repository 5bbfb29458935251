"""`lag comfy run` against servers that are broken or hostile (issue 13 item 8): a real HTTP +
websocket server on 127.0.0.1 answers HTML, output names that are paths, and error text with
escape codes. Nothing may be written outside --out, nothing replaced, every error one clean line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostile_server import HTML, IMAGE_BYTES, HostileServer

from lag_core.comfy.client import ComfyClient, ComfyError, clean_text, normalize_server

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "example_workflows" / "api" / "4_text_prompt_vqgan_clip.json"
UI = ROOT / "example_workflows" / "4_text_prompt_vqgan_clip.json"


@pytest.fixture()
def server(request):
    srv = HostileServer(getattr(request, "param", "comfy"))
    yield srv
    srv.close()


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_address_without_scheme_assumes_http(server, tmp_path, lag_cli):
    assert normalize_server("127.0.0.1:8188") == "http://127.0.0.1:8188"
    assert normalize_server(" https://host/comfy/ ") == "https://host/comfy"
    proc = lag_cli("comfy", "run", API, "--server", f"127.0.0.1:{server.port}", "--out", tmp_path / "out", "--json", env=_env())
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert [Path(f).read_bytes() for f in files] == [IMAGE_BYTES]
    for bad in ("ftp://127.0.0.1:8188", "http://", "http://127.0.0.1:99999", "http://h/?q=1"):
        proc = lag_cli("comfy", "run", API, "--server", bad, "--out", tmp_path / "never", env=_env())
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "expected e.g. http://127.0.0.1:8188" in proc.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("server", ["html"], indirect=True)
def test_server_that_answers_html_gets_one_line(server, tmp_path, lag_cli):
    for workflow, says in ((UI, "not the JSON a ComfyUI server sends"), (API, "cannot open the websocket")):
        proc = lag_cli("comfy", "run", workflow, "--server", server.url, "--out", tmp_path / "out", env=_env())
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    client = ComfyClient(server.url)
    for call in (client.object_info, lambda: client.submit({}), client.queue, lambda: client.history("x")):
        with pytest.raises(ComfyError, match=r"text/html.*DOCTYPE html") as info:
            call()
        assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../evil.png", "..", "/", "", ".", "/tmp/abs_evil.png", "sub/../../evil.png",
                                  "..\\evil.png", "C:\\evil.png", "evil\x00.png", "evil\n.png"])
def test_hostile_output_names_never_write_outside_out(server, tmp_path, name):
    out = tmp_path / "work" / "out"
    server.filenames = ["ComfyUI_00001_.png", name]  # a good name first: nothing is written unless all are good
    before = _tree(tmp_path)
    with pytest.raises(ComfyError, match="not a plain file name|expected a plain file name") as info:
        ComfyClient(server.url).run(json.loads(API.read_text()), out, timeout=30)
    assert "\n" not in str(info.value) and "\x00" not in str(info.value)
    assert _tree(tmp_path) == before
    assert not Path("/tmp/abs_evil.png").exists()


def test_output_name_with_folders_keeps_its_file_name_inside_out(server, tmp_path):
    server.filenames = ["lag/sub/text_00001_.png"]
    result = ComfyClient(server.url).run(json.loads(API.read_text()), tmp_path / "out", timeout=30)
    assert result.files == [tmp_path / "out" / "text_00001_.png"]
    assert _tree(tmp_path) == {"out/text_00001_.png": IMAGE_BYTES}


def test_existing_files_are_never_replaced(server, tmp_path, lag_cli):
    out = tmp_path / "out"
    out.mkdir()
    (out / "ComfyUI_00001_.png").write_bytes(b"the user's own picture")
    (out / "ComfyUI_00001_-1.png").write_bytes(b"and another one")
    proc = lag_cli("comfy", "run", API, "--server", server.url, "--out", out, "--json", env=_env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"] == [str(out / "ComfyUI_00001_-2.png")]
    assert "wrote ComfyUI_00001_-2.png beside it" in proc.stderr
    assert _tree(out) == {"ComfyUI_00001_.png": b"the user's own picture", "ComfyUI_00001_-1.png": b"and another one",
                          "ComfyUI_00001_-2.png": IMAGE_BYTES}


HOSTILE_TEXT = "width is wrong\x1b[31m RED\x1b[0m\nTraceback (most recent call last):\r\n  File \"x\"\x07\x1b]0;owned\x07 \u202eedis"


@pytest.mark.parametrize("server", ["error", "node_error"], indirect=True)
def test_server_errors_are_one_clean_line(server, tmp_path, lag_cli):
    server.error_text = HOSTILE_TEXT
    proc = lag_cli("comfy", "run", API, "--server", server.url, "--out", tmp_path / "out", env=_env())
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.endswith("\n"), repr(proc.stderr)
    line = proc.stderr.strip()
    assert "width is wrong RED Traceback (most recent call last): File \"x\"" in line
    assert not any(ord(c) < 32 or c in "\x7f\u202e" for c in line), repr(line)
    assert "owned" not in line  # an OSC sequence (terminal title) is removed whole
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("server", ["ws_not_json"], indirect=True)
def test_websocket_message_that_is_not_json(server, tmp_path):
    with pytest.raises(ComfyError, match="websocket message that is not JSON") as info:
        ComfyClient(server.url).run(json.loads(API.read_text()), tmp_path, timeout=30)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def test_clean_text_limits_length():
    assert clean_text("a\x1b[1mb\nc", 300) == "ab c"
    assert len(clean_text(HTML * 100, 120)) == 120
