"""Run workflows on a ComfyUI server through its HTTP + websocket API (headless).

`POST /prompt` submits, the websocket `/ws?clientId=...` reports progress and the end of the run,
`GET /history/{id}` lists the outputs and `GET /view` downloads them. Errors come back as one
line carrying ComfyUI's own node error text, stripped of control characters.

The server may be shared and is not trusted:

* Cancelling (timeout, Ctrl-C) touches only our own prompt: still queued, it is deleted from the
  queue (`POST /queue {"delete": [id]}`); running, it is interrupted (`POST /interrupt`, which
  stops whatever runs, so only after `GET /queue` shows ours running; newer servers also take
  `{"prompt_id": id}` and then interrupt only that prompt). What happened is reported as it was.
* Output file names from `/history` are plain names inside `--out`, never paths; an existing file
  is never replaced (the new one gets a free name, which the result lists).
* Anything that is not the JSON we expect (an HTML page, a proxy's error) gives one line.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LAGError
from ..safeload import atomic_path
from .workflow import set_inputs, ui_to_api

_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


class ComfyError(LAGError):
    """The server refused or failed the workflow, or answered something we cannot use."""


class RunCancelled(ComfyError):
    """Our run was stopped (timeout or Ctrl-C); `outcome` says what became of the prompt."""

    def __init__(self, message: str, prompt_id: str, outcome: CancelOutcome, reason: str):
        super().__init__(message)
        self.prompt_id = prompt_id
        self.outcome = outcome
        self.reason = reason  # "timeout" or "ctrl-c"


@dataclass
class CancelOutcome:
    """What cancelling did: `deleted` (it never ran), `interrupted` (it was running),
    `finished` (too late, it had ended), `unknown` (the server does not list it)."""

    state: str
    text: str


@dataclass
class RunResult:
    prompt_id: str
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    outputs: dict = field(default_factory=dict)
    renamed: list[tuple[str, Path]] = field(default_factory=list)  # (server's name, where it went) when taken


def clean_text(text, limit: int = 300) -> str:
    """Server text as one safe line: escape sequences and control characters removed
    (including bidi overrides), whitespace collapsed, at most `limit` characters."""
    text = _ANSI.sub("", str(text))
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_server(server: str) -> str:
    """`127.0.0.1:8188` -> `http://127.0.0.1:8188`; anything but an http(s) address is one line."""
    raw = str(server).strip()
    url = raw if "://" in raw else "http://" + raw
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ComfyError(f"--server '{clean_text(raw, 100)}' is not a valid address ({exc}); expected e.g. http://127.0.0.1:8188") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ComfyError(f"--server '{clean_text(raw, 100)}' is not an http(s) address of a ComfyUI server; expected e.g. http://127.0.0.1:8188")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def safe_output_name(name) -> str:
    """The server's output file name as a plain file name, or ComfyError. A name with folders
    keeps only its last part; `..`, absolute paths, empty names and control characters are refused."""
    if not isinstance(name, str) or not name.strip():
        raise ComfyError(f"the server listed an output with the file name {clean_text(repr(name), 80)}; expected a plain file name. Nothing was written for it")
    parts = re.split(r"[/\\]", name)
    absolute = name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name))
    if absolute or ".." in parts or any(unicodedata.category(c)[0] == "C" for c in name) or parts[-1] in ("", "."):
        raise ComfyError(
            f"the server listed an output named '{clean_text(name, 80)}', which is not a plain file name; "
            "refused (files are written only inside --out). Nothing was written for it"
        )
    return parts[-1]


def _free_name(target: Path) -> Path:
    """`target`, or `stem-1.ext`, `stem-2.ext`, ... when a file of that name exists."""
    if not target.exists() and not target.is_symlink():
        return target
    for n in range(1, 10_000):
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise ComfyError(f"no free file name for '{target.name}' in '{target.parent}'; empty the folder or choose another --out")


def _queue_ids(items) -> list[str]:
    """Prompt ids of `/queue`'s `queue_running` / `queue_pending` lists ([number, prompt_id, ...])."""
    return [item[1] for item in items or [] if isinstance(item, (list, tuple)) and len(item) > 1 and isinstance(item[1], str)]


MAX_ANSWER_BYTES = 1 << 30  # 1 GiB: far above any workflow answer or image; an endless stream is cut here


def _read_capped(resp, url: str) -> bytes:
    """The body of an answer, refused once it passes MAX_ANSWER_BYTES (a hostile server can stream forever)."""
    chunks, size = [], 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ComfyError(f"the server's answer to {clean_text(url, 80)} is larger than {MAX_ANSWER_BYTES >> 20} MiB; "
                             "that is not a ComfyUI server answer: check --server")
        chunks.append(chunk)


class ComfyClient:
    def __init__(self, server: str = "http://127.0.0.1:8188", timeout: float = 60.0):
        self.base = normalize_server(server)
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, str]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, _read_capped(resp, self.base + path), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, _read_capped(exc, self.base + path), exc.headers.get("Content-Type", "") if exc.headers else ""
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ComfyError(
                f"cannot reach the ComfyUI server at {self.base} ({clean_text(f'{type(reason).__name__}: {reason}', 160)}); "
                "start it or pass --server URL"
            ) from None

    def _json(self, method: str, path: str, status: int, body: bytes, ctype: str, kind=dict):
        try:
            answer = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            answer = None
        if not isinstance(answer, kind):
            what = f"{ctype.split(';')[0] or 'no content type'}, {len(body)} bytes: '{clean_text(body[:120].decode('utf-8', 'replace'), 80)}'"
            raise ComfyError(
                f"the server at {self.base} answered {method} {path.split('?')[0]} with {status} and not the JSON a ComfyUI "
                f"server sends ({what}); is --server the address of a ComfyUI server?"
            )
        return answer

    def get_json(self, path: str, kind=dict):
        status, body, ctype = self._request("GET", path)
        if status != 200:
            raise ComfyError(
                f"the server at {self.base} answered GET {path.split('?')[0]} with {status} "
                f"('{clean_text(body[:200].decode('utf-8', 'replace'), 120)}'); is --server the address of a ComfyUI server?"
            )
        return self._json("GET", path, status, body, ctype, kind)

    def object_info(self) -> dict:
        return self.get_json("/object_info")

    def submit(self, api: dict) -> str:
        status, body, ctype = self._request("POST", "/prompt", {"prompt": api, "client_id": self.client_id})
        answer = self._json("POST", "/prompt", status, body, ctype)
        errors = answer.get("node_errors") or {}
        if status != 200 or errors:
            raise ComfyError(describe_errors(answer, api))
        prompt_id = answer.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise ComfyError(f"the server accepted the prompt but sent no prompt_id ({clean_text(json.dumps(answer), 120)}); is it a ComfyUI server?")
        return prompt_id

    def queue(self) -> tuple[list[str], list[str]]:
        """Prompt ids (running, pending) from `GET /queue`."""
        answer = self.get_json("/queue")
        return _queue_ids(answer.get("queue_running")), _queue_ids(answer.get("queue_pending"))

    def history(self, prompt_id: str) -> dict | None:
        """`/history/{id}`'s entry for our prompt, or None while the server has not finished it."""
        entry = self.get_json(f"/history/{urllib.parse.quote(prompt_id)}").get(prompt_id)
        return entry if isinstance(entry, dict) else None

    def cancel(self, prompt_id: str, confirm_s: float = 10.0) -> CancelOutcome:
        """Stop our own prompt and nothing else: delete it from the queue while it waits, interrupt
        it only while `/queue` shows it running. Waits up to `confirm_s` for the server to confirm."""
        for _ in range(3):  # it may move from pending to running between our calls
            running, pending = self.queue()
            if prompt_id in running:
                # The old API interrupts whatever runs: we checked that it is ours. Newer servers
                # read prompt_id and interrupt only that prompt, which closes the remaining race.
                self._request("POST", "/interrupt", {"prompt_id": prompt_id})
                return self._confirm_interrupt(prompt_id, confirm_s)
            if prompt_id not in pending:
                break
            self._request("POST", "/queue", {"delete": [prompt_id]})
            running, pending = self.queue()
            if prompt_id not in pending and prompt_id not in running and self.history(prompt_id) is None:
                return CancelOutcome("deleted", f"prompt {prompt_id} was deleted from the server's queue before it ran")
        else:
            return CancelOutcome("unknown", f"prompt {prompt_id} is still in the server's queue after 3 attempts to delete it; "
                                            "delete it in ComfyUI's queue view")
        entry = self.history(prompt_id)
        if entry is not None:
            return CancelOutcome("finished", f"prompt {prompt_id} had already finished ({_status_word(entry)}); nothing was stopped")
        return CancelOutcome("unknown", f"the server no longer lists prompt {prompt_id} (not queued, not running, not in its history); nothing was stopped")

    def _confirm_interrupt(self, prompt_id: str, confirm_s: float) -> CancelOutcome:
        deadline = time.perf_counter() + confirm_s
        while True:
            entry = self.history(prompt_id)
            if entry is not None:
                if _was_interrupted(entry):
                    return CancelOutcome("interrupted", f"prompt {prompt_id} was interrupted while it ran")
                return CancelOutcome("finished", f"prompt {prompt_id} finished ({_status_word(entry)}) before the interrupt took effect")
            if time.perf_counter() > deadline:
                return CancelOutcome("interrupted", f"prompt {prompt_id} was running and was sent an interrupt; the server has not confirmed it within {confirm_s:.0f} s")
            time.sleep(0.2)

    def download(self, image: dict, out_dir: Path) -> Path:
        """Download one output into `out_dir` under its plain file name (or a free variant of it)."""
        name = safe_output_name(image.get("filename"))
        query = urllib.parse.urlencode({k: str(image.get(k, "")) for k in ("filename", "subfolder", "type")})
        status, body, _ = self._request("GET", f"/view?{query}")
        if status != 200:
            raise ComfyError(f"could not download '{clean_text(name, 80)}' from the server ({status}); see the server log")
        target = _free_name(out_dir / name)
        if target.parent.resolve() != out_dir.resolve():  # cannot happen for a plain name: belt and braces
            raise ComfyError(f"refusing to write '{clean_text(name, 80)}' outside '{out_dir}'")
        with atomic_path(target) as tmp:
            tmp.write_bytes(body)
        return target

    def run(self, workflow: dict, out_dir: str | Path | None = None, assignments: list[str] | None = None,
            progress=None, timeout: float = 3600.0) -> RunResult:
        """Submit a workflow (API or UI format), wait for it, download its images. On timeout or
        Ctrl-C our prompt is cancelled (`cancel`) and `RunCancelled` says what became of it."""
        import websocket  # websocket-client

        if not isinstance(workflow, dict):
            raise ComfyError(f"a workflow is a JSON object; found {type(workflow).__name__}")
        api = ui_to_api(workflow, self.object_info()) if "nodes" in workflow else json.loads(json.dumps(workflow))
        if assignments:
            set_inputs(api, assignments)
        ws_url = "ws" + self.base.removeprefix("http") + f"/ws?clientId={self.client_id}"
        try:
            ws = websocket.create_connection(ws_url, timeout=self.timeout)
        except (OSError, websocket.WebSocketException) as exc:
            raise ComfyError(f"cannot open the websocket {ws_url} ({clean_text(exc, 160)}); is the ComfyUI server running at {self.base}?") from None
        start = time.perf_counter()
        try:
            prompt_id = self.submit(api)
            try:
                self._follow(ws, prompt_id, progress, start + timeout)
            except _TimedOut:
                outcome = self.cancel(prompt_id)
                raise RunCancelled(f"the run did not finish within the timeout of {timeout:g} s; {outcome.text}", prompt_id, outcome, "timeout") from None
            except KeyboardInterrupt:
                outcome = self.cancel(prompt_id)
                raise RunCancelled(f"stopped by Ctrl-C; {outcome.text}", prompt_id, outcome, "ctrl-c") from None
        finally:
            ws.close()
        history = self.history(prompt_id) or {}
        status = history.get("status") if isinstance(history.get("status"), dict) else {}
        if status.get("status_str") == "error":
            raise ComfyError(_history_error(status))
        outputs = history.get("outputs") if isinstance(history.get("outputs"), dict) else {}
        result = RunResult(prompt_id, seconds=time.perf_counter() - start, outputs=outputs)
        if out_dir is not None:
            self._download_all(result, Path(out_dir))
        return result

    def _download_all(self, result: RunResult, out: Path) -> None:
        images = [img for node_out in result.outputs.values() if isinstance(node_out, dict)
                  for img in node_out.get("images") or [] if isinstance(img, dict)]
        for image in images:  # every name is checked before anything is written
            safe_output_name(image.get("filename"))
        out.mkdir(parents=True, exist_ok=True)
        for image in images:
            # Saved images go to DIR, previews (type temp) to DIR/previews.
            target = out if image.get("type") == "output" else out / "previews"
            target.mkdir(parents=True, exist_ok=True)
            path = self.download(image, target)
            if path.name != safe_output_name(image["filename"]):
                result.renamed.append((image["filename"], path))
            result.files.append(path)

    def _follow(self, ws, prompt_id: str, progress, deadline: float) -> None:
        import websocket

        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise _TimedOut
            ws.settimeout(min(5.0, left))
            try:
                message = ws.recv()
            except (websocket.WebSocketTimeoutException, TimeoutError):
                continue
            except (OSError, websocket.WebSocketException) as exc:
                raise ComfyError(f"the websocket to {self.base} closed while prompt {prompt_id} ran ({clean_text(exc, 120)}); see the server log") from None
            if isinstance(message, bytes):
                continue  # binary preview images
            try:
                event = json.loads(message)
            except (json.JSONDecodeError, RecursionError):
                raise ComfyError(f"the server sent a websocket message that is not JSON ('{clean_text(message, 80)}'); is it a ComfyUI server?") from None
            if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
                continue
            kind, data = event.get("type"), event["data"]
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "progress" and progress is not None:
                progress(data.get("value", 0), data.get("max", 1), {"node": data.get("node"), "prompt_id": prompt_id})
            elif kind == "execution_error":
                raise ComfyError(_node_failed(data))
            elif kind == "execution_interrupted":
                raise ComfyError(f"the run {prompt_id} was interrupted on the server (its Cancel button, or a client that interrupts whatever runs)")
            elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return


class _TimedOut(Exception):
    pass


def _node_failed(data: dict) -> str:
    return (f"node {clean_text(data.get('node_id'), 40)} ({clean_text(data.get('node_type'), 60)}) failed: "
            f"{clean_text(data.get('exception_message', ''))}")


def _messages(entry: dict) -> list:
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    return [m for m in status.get("messages") or [] if isinstance(m, (list, tuple)) and len(m) == 2]


def _was_interrupted(entry: dict) -> bool:
    return any(name == "execution_interrupted" for name, _ in _messages(entry))


def _status_word(entry: dict) -> str:
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    if _was_interrupted(entry):
        return "interrupted"
    return clean_text(status.get("status_str") or "done", 20)


def describe_errors(answer: dict, api: dict) -> str:
    """ComfyUI's validation answer as one line: the error, then each node's errors."""
    parts = []
    err = answer.get("error")
    if isinstance(err, dict):
        parts.append(clean_text(err.get("message", "")) + (f": {clean_text(err['details'])}" if err.get("details") else ""))
    elif isinstance(err, str):
        parts.append(clean_text(err))
    node_errors = answer.get("node_errors")
    for nid, node in (node_errors.items() if isinstance(node_errors, dict) else []):
        if not isinstance(node, dict):
            continue
        kind = node.get("class_type") or (api.get(nid) or {}).get("class_type", "?")
        for e in node.get("errors") or []:
            if isinstance(e, dict):
                parts.append(f"node {clean_text(nid, 40)} ({clean_text(kind, 60)}): {clean_text(e.get('message', ''))}"
                             + (f" - {clean_text(e['details'])}" if e.get("details") else ""))
    return clean_text("; ".join(p for p in parts if p), 1000) or f"the server refused the prompt: {clean_text(json.dumps(answer))}"


def _history_error(status: dict) -> str:
    for name, data in _messages({"status": status}):
        if name == "execution_error" and isinstance(data, dict):
            return _node_failed(data)
    return "the run failed (see the server log)"
