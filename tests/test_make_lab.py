"""`make lab`, the README's first command, really serves JupyterLab on the lessons."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.environ.get("LMSAMPLE_UNLOCKED") == "1",
                    reason="make lab runs the locked .venv; make test-latest tests another environment")
def test_make_lab_serves_jupyterlab_on_the_lessons(tmp_path):
    port = _free_port()
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR", "JUPYTER_DATA_DIR"):
        env[var] = str(tmp_path / var.lower())
    args = f"--no-browser --port {port} --ServerApp.ip=127.0.0.1 --ServerApp.token=lmsample-test"
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token=lmsample-test", timeout=2) as r:
                    status = json.load(r)
                break
            except OSError:
                time.sleep(0.5)
        assert status is not None, f"JupyterLab did not answer: {proc.stdout.read1().decode(errors='replace') if proc.poll() is not None else 'still starting'}"
        assert "started" in status
        with urllib.request.urlopen(f"{base}/api/contents?token=lmsample-test", timeout=5) as r:
            listing = json.load(r)
        served = {item["name"] for item in listing["content"]}
        on_disk = {p.name for p in (ROOT / "lessons").iterdir() if not p.name.startswith(".")}
        assert served == on_disk, "make lab must open the lessons folder"
        with urllib.request.urlopen(f"{base}/lab?token=lmsample-test", timeout=5) as r:
            assert b"JupyterLab" in r.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
