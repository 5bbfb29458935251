"""A real HTTP + websocket server (aiohttp, which ComfyUI itself runs on) that answers the way a
broken or hostile ComfyUI server could: HTML pages, output names that are paths, multi-line error
text with escape codes. The client under test talks to it over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

from aiohttp import web

HTML = "<!DOCTYPE html>\n<html><head><title>Login</title></head><body>Please log in</body></html>\n"
PROMPT_ID = "hostile-prompt-1"
IMAGE_BYTES = b"\x89PNG\r\n\x1a\n not really a png, but bytes from the server"


class HostileServer:
    """`mode`: "html" (every path answers an HTML page), "comfy" (a minimal ComfyUI API whose
    `/history` lists `self.filenames`), "error" (`/prompt` refuses with `self.error_text`),
    "node_error" (the run fails with `self.error_text` on the websocket)."""

    def __init__(self, mode: str = "comfy"):
        self.mode = mode
        self.filenames: list[str] = ["ComfyUI_00001_.png"]
        self.error_text = "bad"
        self.requests: list[str] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile server did not start")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, request: web.Request):
        self.requests.append(f"{request.method} {request.path_qs}")
        if self.mode == "html":
            return web.Response(text=HTML, content_type="text/html")
        if self.mode == "deep":  # JSON nested deeper than any parser recurses
            return web.Response(text="[" * 200_000, content_type="application/json")
        if self.mode == "endless":  # an answer that never ends (the client must stop reading)
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            chunk = b"[" + b" " * (1 << 20)
            for _ in range(4096):
                await response.write(chunk)
            return response
        path = request.path
        if path == "/ws":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await asyncio.sleep(0.2)  # let the client submit first
            if self.mode == "node_error":
                await ws.send_str(json.dumps({"type": "execution_error", "data": {
                    "prompt_id": PROMPT_ID, "node_id": "3\x1b[2J", "node_type": "LAGVQGANCLIPSampler",
                    "exception_message": self.error_text}}))
            elif self.mode == "ws_not_json":
                await ws.send_str("<html>\x1b[31mnot json\n</html>")
            else:
                await ws.send_str(json.dumps({"type": "executing", "data": {"node": None, "prompt_id": PROMPT_ID}}))
            await asyncio.sleep(1)
            await ws.close()
            return ws
        if path == "/prompt" and request.method == "POST":
            if self.mode == "error":
                return web.json_response({"error": {"type": "x", "message": self.error_text, "details": self.error_text},
                                          "node_errors": {"3": {"errors": [{"message": self.error_text, "details": ""}],
                                                                "class_type": "LAGVQGANCLIPSampler\n\x1b[1m"}}}, status=400)
            return web.json_response({"prompt_id": PROMPT_ID, "number": 0, "node_errors": {}})
        if path == f"/history/{PROMPT_ID}":
            images = [{"filename": name, "subfolder": "", "type": "output"} for name in self.filenames]
            return web.json_response({PROMPT_ID: {"status": {"status_str": "success", "completed": True, "messages": []},
                                                  "outputs": {"9": {"images": images}}}})
        if path == "/view":
            return web.Response(body=IMAGE_BYTES, content_type="image/png")
        return web.Response(status=404, text="404: Not Found")
