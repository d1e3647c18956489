"""A JupyterLab server and a real Chromium for the browser tests.

``Lab`` starts ``jupyter lab`` on a free loopback port with a token, on a scratch copy of
``lessons/`` and ``solutions/`` (so nothing the tests run is ever saved into the repository), with
every Jupyter, IPython and matplotlib folder in a temporary directory, the "news" pop-up disabled
and notebook windowing off (every cell stays in the page). ``NotebookPage`` drives one notebook in
the browser: open it, run every cell through the Run menu, read back what each cell shows, and shut
its kernel down. The explorer driving lives in ``explorers.py``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # the environment running the tests (.venv, or .venv-latest)

#: Debian's Chromium (``apt-get install chromium``); override with LMSAMPLE_CHROMIUM.
CHROMIUM = Path(os.environ.get("LMSAMPLE_CHROMIUM", "/usr/bin/chromium"))
#: The launch flags that work on the course's machines (FIELD-NOTES).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


def chromium_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return (f"real-browser tests skipped: no Chromium at {CHROMIUM} "
                "(apt-get install chromium, or set LMSAMPLE_CHROMIUM; .ci/run installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "real-browser tests skipped: the playwright Python package is missing (make venv installs it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


class Lab:
    """``jupyter lab`` serving a scratch copy of the course; use as a context manager."""

    def __init__(self, scratch: Path, folders=("lessons", "solutions")):
        self.scratch = Path(scratch)
        self.root = self.scratch / "course"
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.folders = folders
        self.proc = None
        self.log = self.scratch / "jupyter-lab.log"

    # -- environment
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(VENV_BIN), str(Path(sys.executable).parent), env.get("PATH", "")])
        dirs = {
            "JUPYTER_CONFIG_DIR": "jupyter-config", "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
            "JUPYTER_DATA_DIR": "jupyter-data", "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib",
            "JUPYTERLAB_SETTINGS_DIR": "lab-settings", "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        }
        for var, sub in dirs.items():
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.scratch / sub)
        env.pop("NBGRADER_EXECUTION", None)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        return env

    def _configure(self, env) -> None:
        config = Path(env["JUPYTER_CONFIG_DIR"])
        # the announcements ("news") pop-up covers the lower right of the page
        _write_json(config / "labconfig" / "page_config.json",
                    {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
        settings = Path(env["JUPYTERLAB_SETTINGS_DIR"])
        # every cell stays in the DOM (no virtual scrolling), and nothing is autosaved
        _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                    {"windowingMode": "none"})
        _write_json(settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings",
                    {"autosave": False})

    # -- lifecycle
    def start(self, timeout: float = 90) -> "Lab":
        for folder in self.folders:
            shutil.copytree(REPO / folder, self.root / folder,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        env = self.env()
        self._configure(env)
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log_fh = open(self.log, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                self.api("GET", "/api/status")
                return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not start within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.shutdown_kernels()
        except OSError:
            pass
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log_fh.close()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- REST
    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(self.base + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> int:
        """Shut every session and kernel down (kernels outlive their page); return how many."""
        n = 0
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")
            n += 1
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")
            n += 1
        return n

    def url(self, relpath: str) -> str:
        return f"{self.base}/lab/tree/{relpath}?token={self.token}&reset"


# JavaScript run in the page against the exposed app (``window.jupyterapp``).
_JS_PANEL = "() => { const w = window.jupyterapp.shell.currentWidget; return w && w.content && w.sessionContext ? w : null; }"

_JS_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  panel.content.widgets.forEach((cell, i) => {
    const m = cell.model;
    const entry = {index: i, type: m.type, source: m.sharedModel.getSource()};
    if (m.type === 'code') {
      entry.execution_count = m.executionCount;
      entry.running = m.executionState === 'running';
      entry.outputs = m.outputs.toJSON().map(o => ({
        output_type: o.output_type, ename: o.ename, evalue: o.evalue,
        traceback: o.traceback ? o.traceback.join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '') : undefined,
        name: o.name, text: typeof o.text === 'string' ? o.text : (o.text || []).join(''),
        mimes: o.data ? Object.keys(o.data) : []}));
    }
    cells.push(entry);
  });
  return {kernel: kernel ? kernel.status : 'none', cells};
}"""


class NotebookPage:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, lab: Lab, page, relpath: str):
        self.lab, self.page, self.relpath = lab, page, relpath
        self.messages = []  # errors and stderr the kernel sent outside any cell (widget callbacks)

    def open(self, timeout: float = 60_000) -> "NotebookPage":
        """Open the notebook: in the JupyterLab already loaded in the page if there is one (File >
        Open, without reloading the whole application), else by loading JupyterLab at its URL."""
        loaded = self.page.evaluate("() => !!window.jupyterapp")
        if loaded:
            self.page.keyboard.press("Escape")
            self.page.evaluate("""async (path) => {
              const app = window.jupyterapp;
              for (const w of Array.from(app.shell.widgets('main'))) {
                if (w.context) w.context.model.dirty = false;
                w.dispose();
              }
              await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
            }""", self.relpath)
            self.page.wait_for_function(
                "(path) => { const w = window.jupyterapp.shell.currentWidget; return w && w.context && w.context.path === path; }",
                arg=self.relpath, timeout=timeout)
        else:
            self.page.goto(self.lab.url(self.relpath))
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=timeout,
        )
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout)
        # record every error or stderr output the kernel sends (widget callbacks print outside cells)
        self.page.evaluate("""() => {
          window.__kernelProblems = [];
          const panel = window.jupyterapp.shell.currentWidget;
          panel.sessionContext.iopubMessage.connect((_, msg) => {
            const t = msg.header.msg_type, c = msg.content;
            if (t === 'error') window.__kernelProblems.push(c.ename + ': ' + c.evalue);
            if (t === 'stream' && c.name === 'stderr') window.__kernelProblems.push('stderr: ' + c.text);
          });
        }""")
        return self

    def kernel_problems(self) -> list[str]:
        return self.page.evaluate("() => window.__kernelProblems.slice()")

    def clear_kernel_problems(self) -> None:
        self.page.evaluate("() => { window.__kernelProblems.length = 0; }")

    def state(self) -> dict:
        return self.page.evaluate(_JS_STATE)

    def run_all_from_menu(self) -> None:
        """Run > Run All Cells, the way a student does it."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()

    def run_from(self, index: int) -> None:
        """Select cell ``index`` and Run > Run Selected Cell and All Below."""
        self.page.evaluate(f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {index}; }}")
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator('li.lm-Menu-item[data-command="notebook:run-all-below"]').click()

    def wait_until_done(self, timeout: float = 240) -> dict:
        """Wait until no cell is running or queued and the kernel has been idle for a moment."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        time.sleep(0.5)
        while time.monotonic() < deadline:
            st = self.state()
            busy = st["kernel"] != "idle" or any(c.get("running") for c in st["cells"])
            if busy:
                quiet_since = None
            else:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 0.5:
                    return st
            time.sleep(0.2)
        raise TimeoutError(f"{self.relpath}: cells still running after {timeout} s")

    def cell_locator(self, index: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def close(self) -> None:
        """Close the notebook without saving (the page stays, for the next notebook) and shut its kernel down."""
        try:
            self.page.evaluate("""() => {
              for (const w of Array.from(window.jupyterapp.shell.widgets('main'))) {
                if (w.context) w.context.model.dirty = false;
                w.dispose();
              }
            }""")
        finally:
            self.lab.shutdown_kernels()
