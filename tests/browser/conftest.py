"""Fixtures: one JupyterLab server and one Chromium for the browser tests, stopped by process id."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import lab_page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, name: str = "JupyterLab", timeout_s: float = 90) -> None:
    """Poll ``url`` until it answers; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{name} did not answer at {url} within {timeout_s:.0f} s")


def _stop(pid: int) -> None:
    """Stop the process group led by ``pid``: SIGTERM, then SIGKILL after 10 s."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            time.sleep(0.2)


@pytest.fixture(scope="session")
def playwright_api():
    """Playwright's sync API, or a skip that says why the browser tests cannot run."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (install the 'chromium' package); browser tests cannot run")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def lab_url(playwright_api, tmp_path_factory):
    """Base URL of a JupyterLab server on 127.0.0.1, rooted at the repository, in fast mode."""
    port = _free_port()
    env = dict(os.environ, LPNTK_LAB_FAST="1", JUPYTER_CONFIG_DIR=str(tmp_path_factory.mktemp("jupyter-config")))
    settings = tmp_path_factory.mktemp("lab-settings")
    # Autosave off: running the lessons must never write outputs into the committed notebooks.
    (settings / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    before = {p: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
           "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('lab-workspaces')}", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path_factory.mktemp("jupyter-log") / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/api", proc)
        yield url
    finally:
        _stop(proc.pid)
        log.close()
    changed = [p.name for p, data in before.items() if p.read_bytes() != data]
    assert not changed, f"the browser session rewrote {changed}"


@pytest.fixture(scope="session")
def browser(playwright_api, tmp_path_factory):
    """Debian's Chromium, started here (never a downloaded browser) and driven by Playwright over CDP."""
    port = _free_port()
    profile = tmp_path_factory.mktemp("chromium-profile")
    cmd = [CHROMIUM, *CHROMIUM_ARGS, f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/json/version", proc, name="Chromium")
        chromium = playwright_api.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        yield chromium
        chromium.close()
    finally:
        _stop(proc.pid)


@pytest.fixture
def page(browser, request):
    """A fresh page; a screenshot of it goes to test-artifacts/<test name>.png after the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        lab_page.shutdown_kernel(page)
    finally:
        context.close()
