"""A throwaway JupyterLab server on 127.0.0.1 and a headless Chromium driven by Playwright.

Used by the browser tier (`make test-browser`, marker ``browser``). The server runs in a temporary
root holding copies of the notebooks under test (running them never rewrites the repository's
files), with its own settings directory (the news toast off) and no token, on a free port.
Debian's Chromium is used through `executable_path`: Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    # JupyterLab asks "get notified about official Jupyter news?" in a toast over the page
    plugin = settings_dir / "@jupyterlab" / "apputils-extension"
    plugin.mkdir(parents=True, exist_ok=True)
    (plugin / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"}), encoding="utf-8")


@contextmanager
def jupyterlab(root: Path, *, startup_timeout: float = 90.0) -> Iterator[str]:
    """Serve `root` with JupyterLab; yields the base URL. The server is stopped afterwards."""
    port = free_port()
    settings = root / ".lab-settings"
    _write_settings(settings)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "OMP_NUM_THREADS": "1",
           "ERNIE3_FAST": "1"}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={root}",
           "--IdentityProvider.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=None"]
    log = (root / "jupyterlab.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start: "
                                       + (root / "jupyterlab.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def open_notebook(page, url: str, name: str, *, timeout_ms: int = 60_000) -> None:
    """Open `name` in JupyterLab and wait for its cells (accepting a kernel-choice dialog)."""
    page.goto(f"{url}/lab/tree/{name}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
    accept = page.locator(".jp-Dialog button.jp-mod-accept")
    try:  # only shown when the notebook names no kernel JupyterLab knows
        accept.wait_for(timeout=3000)
        accept.click()
    except Exception:  # noqa: BLE001 - no dialog: nothing to accept
        pass


def run_all_cells(page) -> None:
    """Run every cell of the open notebook from JupyterLab's own Run menu."""
    page.get_by_role("menuitem", name="Run", exact=True).first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).first.click()


def wait_until_idle(page, *, timeout_ms: int = 240_000) -> None:
    """Wait until the open notebook's kernel has run every queued cell: the execution indicator
    in its toolbar then reads idle. Only a visible indicator counts (JupyterLab keeps notebooks
    opened by earlier tests in hidden tabs, each with its own). Call it after a widget of the
    run has appeared (right after "Run All Cells" the indicator may not have turned busy yet)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]"
        ".some(e => e.offsetParent !== null && e.dataset.status === 'idle')",
        timeout=timeout_ms)
