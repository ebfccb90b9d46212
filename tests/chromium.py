"""A tiny W3C WebDriver client (standard library only) driving Debian's headless chromium
through chromedriver, for the report and explorer tests.  Not a test module."""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One chromedriver process and one headless chromium session."""

    def __init__(self, chromium: str, chromedriver: str):
        self.port = _free_port()
        self.profile = tempfile.TemporaryDirectory(prefix="ganphon_chromium_")
        self.driver = subprocess.Popen([chromedriver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    self.driver.kill()
                    raise RuntimeError("chromedriver did not start")
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": FLAGS + [f"--user-data-dir={self.profile.name}"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}").get("value")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"webdriver {method} {path}: {exc.read().decode(errors='replace')[:500]}") from None

    def _s(self, method: str, path: str, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, path) -> None:
        """Load a local file and wait until the page has loaded."""
        self._s("POST", "/url", {"url": Path(path).resolve().as_uri()})

    def js(self, script: str, *args):
        """Run ``script`` (a function body; ``arguments`` holds ``args``) and return its value."""
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script: str, *args):
        """Run an async ``script``: it calls ``arguments[arguments.length - 1](value)``."""
        return self._s("POST", "/execute/async", {"script": script, "args": list(args)})

    def key(self, element_css: str, key: str) -> None:
        """Send a key (e.g. ``"\\ue014"`` for →) to the document via the element ``element_css``."""
        element = self._s("POST", "/element", {"using": "css selector", "value": element_css})
        element_id = next(iter(element.values()))
        self._s("POST", f"/element/{element_id}/value", {"text": key})

    def window(self, width: int, height: int) -> None:
        """Set the browser window's outer size (CSS pixels)."""
        self._s("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path) -> Path:
        """Save a PNG of the current viewport to ``path``."""
        import base64

        path = Path(path)
        path.write_bytes(base64.b64decode(self._s("GET", "/screenshot")))
        return path

    def console(self) -> list[dict]:
        """Browser log entries since the last call (console messages, page errors, failed loads)."""
        return self._s("POST", "/se/log", {"type": "browser"}) or []

    def close(self) -> None:
        try:
            self._s("DELETE", "")
        finally:
            self.driver.kill()
            self.driver.wait()
            self.profile.cleanup()
