"""Drive a notebook in JupyterLab from Playwright and list what did not render.

The checks read the page as a student sees it: widget placeholders and error texts,
charts inside ``.vega-embed``, error outputs in the notebook model, and JavaScript errors.
"""

import time

WIDGET_ERROR = "Error displaying widget"
WIDGET_LOADING = "Loading widget..."
SCRIPT_ERROR = "Error loading script"

# Console messages that are not failures of the course, each with its reason.
BENIGN_CONSOLE = {
    # Chromium with --disable-background-networking still asks for a favicon the server lacks.
    "favicon.ico": "the page has no favicon",
    # JupyterLab probes optional server extensions (news, announcements, lsp) that are not installed.
    "404 (Not Found)": "optional JupyterLab server extensions are absent",
}

_APP_READY = "() => !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"\
    " && window.jupyterapp.shell.currentWidget.sessionContext)"

_KERNEL_IDLE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  return ![...panel.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
}"""

_ERROR_OUTPUTS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  const found = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    // A cell tagged raises-exception is an exercise left for the student: its error is expected.
    if (cell.type !== 'code' || (cell.getMetadata('tags') || []).includes('raises-exception')) continue;
    for (const out of cell.outputs.toJSON()) {
      if (out.output_type === 'error') found.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
    }
  }
  return found;
}"""

_CHARTS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .vega-embed')]
  .map(e => !!e.querySelector('svg, canvas'))"""


def is_benign(message: str) -> bool:
    """True when a console error is known noise (see ``BENIGN_CONSOLE`` for the reasons)."""
    return any(key in message for key in BENIGN_CONSOLE)


def watch_errors(page) -> list[str]:
    """Collect uncaught page errors and non-benign console errors of ``page`` into the returned list."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def on_console(msg):
        if msg.type == "error" and not is_benign(msg.text + str(msg.location.get("url", ""))):
            errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    return errors


def wait_idle(page, timeout_s: float, settle_s: float = 2.0) -> None:
    """Wait until the kernel is idle and no cell is queued, stably for ``settle_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    since = None
    while time.monotonic() < deadline:
        if page.evaluate(_KERNEL_IDLE):
            since = since or time.monotonic()
            if time.monotonic() - since >= settle_s:
                return
        else:
            since = None
        page.wait_for_timeout(250)
    raise TimeoutError(f"kernel still busy after {timeout_s:.0f} s")


def open_and_run(page, base_url: str, path: str, timeout_s: float = 150) -> float:
    """Open ``path`` (relative to the server root) in JupyterLab, run all cells, wait; return seconds."""
    page.goto(f"{base_url}/lab/tree/{path}?reset")  # reset: no tabs restored from earlier tests
    page.wait_for_function(_APP_READY, timeout=60_000)
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.ready")
    wait_idle(page, 60, settle_s=0.5)
    start = time.monotonic()
    page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")
    page.wait_for_timeout(1000)
    wait_idle(page, timeout_s)
    return time.monotonic() - start


def shutdown_kernel(page) -> None:
    """Shut down the open notebook's kernel so that finished lessons free their memory."""
    page.evaluate("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                  " && window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")


def settle_widgets(page, timeout_s: float = 20) -> None:
    """Give widget views time to leave their "Loading widget..." placeholder."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and WIDGET_LOADING in page.inner_text("body"):
        page.wait_for_timeout(250)


def problems(page, js_errors: list[str], min_charts: int = 0) -> list[str]:
    """Everything that did not render or failed on the open notebook; empty when all is well."""
    settle_widgets(page)
    text = page.inner_text("body")
    found = [f"page shows {s!r}" for s in (WIDGET_ERROR, WIDGET_LOADING, SCRIPT_ERROR) if s in text]
    found += page.evaluate(_ERROR_OUTPUTS)
    charts = page.evaluate(_CHARTS)
    found += [f"chart {i} has no svg/canvas" for i, ok in enumerate(charts) if not ok]
    if len(charts) < min_charts:
        found.append(f"{len(charts)} charts rendered, expected at least {min_charts}")
    return found + list(js_errors)


def rendered_near(page, selector: str) -> str:
    """HTML of the charts, output widgets and HTML widgets in the output area holding ``selector``.

    Controls themselves (slider readouts, buttons) are left out, so a change here is Python's answer.
    """
    area = page.locator(".jp-OutputArea", has=page.locator(selector)).first
    return "".join(area.locator(".vega-embed, .widget-output, .widget-html").evaluate_all(
        "nodes => nodes.map(n => n.innerHTML)"))
