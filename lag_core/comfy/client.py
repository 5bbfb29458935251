"""Run workflows on a ComfyUI server through its HTTP + websocket API (headless).

`POST /prompt` submits, the websocket `/ws?clientId=...` reports progress and the end of the run,
`GET /history/{id}` lists the outputs and `GET /view` downloads them. Errors come back as one
line carrying ComfyUI's own node error text.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LAGError
from ..safeload import atomic_path
from .workflow import set_inputs, ui_to_api


class ComfyError(LAGError):
    """The server refused or failed the workflow."""


@dataclass
class RunResult:
    prompt_id: str
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    outputs: dict = field(default_factory=dict)


class ComfyClient:
    def __init__(self, server: str = "http://127.0.0.1:8188", timeout: float = 60.0):
        self.base = server.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ComfyError(f"cannot reach the ComfyUI server at {self.base} ({exc}); start it or pass --server URL") from None

    def get_json(self, path: str):
        status, body = self._request("GET", path)
        if status != 200:
            raise ComfyError(f"GET {path} answered {status}: {body[:200]!r}")
        return json.loads(body)

    def object_info(self) -> dict:
        return self.get_json("/object_info")

    def submit(self, api: dict) -> str:
        status, body = self._request("POST", "/prompt", {"prompt": api, "client_id": self.client_id})
        try:
            answer = json.loads(body)
        except json.JSONDecodeError:
            raise ComfyError(f"the server answered {status} to /prompt with non-JSON: {body[:200]!r}") from None
        errors = answer.get("node_errors") or {}
        if status != 200 or errors:
            raise ComfyError(describe_errors(answer, api))
        return answer["prompt_id"]

    def interrupt(self) -> None:
        self._request("POST", "/interrupt", {})

    def download(self, image: dict, out_dir: Path) -> Path:
        query = urllib.parse.urlencode({k: image.get(k, "") for k in ("filename", "subfolder", "type")})
        status, body = self._request("GET", f"/view?{query}")
        if status != 200:
            raise ComfyError(f"could not download {image.get('filename')} ({status})")
        target = out_dir / Path(image["filename"]).name
        with atomic_path(target) as tmp:
            tmp.write_bytes(body)
        return target

    def run(self, workflow: dict, out_dir: str | Path | None = None, assignments: list[str] | None = None,
            progress=None, timeout: float = 3600.0) -> RunResult:
        """Submit a workflow (API or UI format), wait for it, download its images."""
        import websocket  # websocket-client

        api = ui_to_api(workflow, self.object_info()) if "nodes" in workflow else json.loads(json.dumps(workflow))
        if assignments:
            set_inputs(api, assignments)
        ws_url = self.base.replace("http://", "ws://").replace("https://", "wss://") + f"/ws?clientId={self.client_id}"
        try:
            ws = websocket.create_connection(ws_url, timeout=self.timeout)
        except (OSError, websocket.WebSocketException) as exc:
            raise ComfyError(f"cannot open the websocket {ws_url} ({exc}); is the ComfyUI server running?") from None
        start = time.perf_counter()
        try:
            prompt_id = self.submit(api)
            self._follow(ws, prompt_id, progress, start + timeout)
        finally:
            ws.close()
        history = self.get_json(f"/history/{prompt_id}").get(prompt_id, {})
        status = history.get("status", {})
        if status.get("status_str") == "error":
            raise ComfyError(_history_error(status))
        result = RunResult(prompt_id, seconds=time.perf_counter() - start, outputs=history.get("outputs", {}))
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            for node_out in result.outputs.values():
                for image in node_out.get("images", []):
                    # Saved images go to DIR, previews (type temp) to DIR/previews.
                    target = out if image.get("type") == "output" else out / "previews"
                    target.mkdir(parents=True, exist_ok=True)
                    result.files.append(self.download(image, target))
        return result

    def _follow(self, ws, prompt_id: str, progress, deadline: float) -> None:
        import websocket

        ws.settimeout(5.0)
        while True:
            if time.perf_counter() > deadline:
                self.interrupt()
                raise ComfyError(f"the run {prompt_id} did not finish in time; it was interrupted")
            try:
                message = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if isinstance(message, bytes):
                continue  # binary preview images
            event = json.loads(message)
            kind, data = event.get("type"), event.get("data", {})
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "progress" and progress is not None:
                progress(data.get("value", 0), data.get("max", 1), {"node": data.get("node")})
            elif kind == "execution_error":
                raise ComfyError(f"node {data.get('node_id')} ({data.get('node_type')}) failed: {data.get('exception_message', '').strip()}")
            elif kind == "execution_interrupted":
                raise ComfyError(f"the run {prompt_id} was interrupted")
            elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return


def describe_errors(answer: dict, api: dict) -> str:
    """ComfyUI's validation answer as one line: the error, then each node's errors."""
    parts = []
    err = answer.get("error")
    if isinstance(err, dict):
        parts.append(err.get("message", "") + (f": {err['details']}" if err.get("details") else ""))
    for nid, node in (answer.get("node_errors") or {}).items():
        kind = node.get("class_type") or api.get(nid, {}).get("class_type", "?")
        for e in node.get("errors", []):
            parts.append(f"node {nid} ({kind}): {e.get('message', '')}" + (f" - {e['details']}" if e.get("details") else ""))
    return "; ".join(p for p in parts if p) or f"the server refused the prompt: {json.dumps(answer)[:300]}"


def _history_error(status: dict) -> str:
    for name, data in status.get("messages", []):
        if name == "execution_error":
            return f"node {data.get('node_id')} ({data.get('node_type')}) failed: {data.get('exception_message', '').strip()}"
    return "the run failed (see the server log)"
