"""Drive headless Chromium over the DevTools protocol (CDP) to check rendered slide decks.

A deliberately small client: Chromium starts with `--remote-debugging-port=0` in a fresh
profile, the port is read back from the `DevToolsActivePort` file it writes there, and one
websocket (`websocket-client`) carries commands and events for a page attached in flattened
session mode. Everything runs on the calling thread: a command's reply is awaited by reading
messages in order, and the events read on the way are kept for the checks.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-allow-origins=*",
]
# Schemes a self-contained page may load; anything else (http, https, ws) is a network request.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What loading one page showed: its problems, and what the page's own code answered."""

    console_errors: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)


class Chromium:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, executable: str, width: int = 1280, height: int = 720,
                 timeout_s: float = 60.0):
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self._proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._ws = websocket.create_connection(self._browser_ws_url(), timeout=timeout_s,
                                               suppress_origin=True)
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            shutil.rmtree(self._profile, ignore_errors=True)

    # ------------------------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a command in the page's session and return its result."""
        return self._call(method, params, session=self._session)

    def open(self, url: str) -> PageReport:
        """Navigate to `url`, wait for its load event, and report errors and network requests."""
        self._events.clear()
        self.send("Page.navigate", {"url": url})
        self._wait_for_event("Page.loadEventFired")
        return self.report()

    def report(self) -> PageReport:
        report = PageReport()
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                report.console_errors.append(f"uncaught exception: {text}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description", "")))
                                for a in params["args"])
                report.console_errors.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                report.console_errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(LOCAL_SCHEMES):
                    report.network_requests.append(url)
        return report

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout_s: float = 30.0) -> bool:
        """Poll a JavaScript expression until it is truthy; False if it never is in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.1)
        return False

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(base64.b64decode(data))
        tmp.replace(path)

    # ------------------------------------------------------------------------------------------

    def _browser_ws_url(self) -> str:
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._proc.returncode} at start")
            lines = port_file.read_text().split("\n") if port_file.is_file() else []
            if len(lines) >= 2 and lines[1]:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise TimeoutError(f"chromium wrote no {port_file} within {self.timeout_s} s")

    def _call(self, method: str, params: dict[str, Any] | None = None,
              session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})

    def _wait_for_event(self, method: str) -> None:
        if any(e.get("method") == method for e in self._events):
            return
        while self._read().get("method") != method:
            pass

    def _read(self) -> dict[str, Any]:
        message = json.loads(self._ws.recv())
        if "method" in message:
            self._events.append(message)
        return message
