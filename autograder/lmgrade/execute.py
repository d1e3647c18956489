"""nbgrader's Execute preprocessor, hardened for untrusted submissions.

- Every kernel runs in the bubblewrap sandbox (see `sandbox.py`), whatever kernelspec the
  notebook claims; grading refuses to start if the sandbox is unavailable, unless the
  instructor set LMGRADE_NO_SANDBOX=1.
- A cell that outlives its time limit is interrupted; if the kernel ignores the interrupt, or
  dies (memory, os._exit, a crash), the kernel is killed and restarted, the earlier cells that ran
  cleanly are replayed silently, the culprit cell gets an error output (so a test cell scores 0),
  and grading goes on with the next cell instead of giving up on the student.
- Output is capped per cell; errors are never dropped by the cap.
- The whole notebook has a wall-time budget.
"""
from __future__ import annotations

import asyncio
import json
import time
from queue import Empty
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Integer, Unicode, default

from nbgrader.preprocessors import Execute

from .sandbox import SandboxKernelManager, check_isolation, opted_out

#: ename of the error outputs this preprocessor writes; the summary reads them back.
KILLED = "LmgradeKernelKilled"
BUDGET = "LmgradeNotebookTimeout"
TAMPER = "LmgradeTampering"


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class SandboxExecute(Execute):

    max_output_bytes = Integer(
        100_000, help="Output kept per cell (bytes of message content); errors are always kept."
    ).tag(config=True)
    notebook_timeout = Integer(
        900, help="Wall-time budget for a whole notebook, seconds; later cells are not run."
    ).tag(config=True)
    max_restarts = Integer(3, help="Kernel restarts allowed per notebook.").tag(config=True)

    @default("kernel_name")
    def _kernel_name_default(self) -> str:
        # Whatever kernelspec the student's notebook names, grading uses our Python kernel.
        return "python3"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    # -- kernel creation ---------------------------------------------------------------------
    def create_kernel_manager(self):  # type: ignore[override]
        self.kernel_name = "python3"
        km = super().create_kernel_manager()
        if opted_out():
            self.log.warning("LMGRADE_NO_SANDBOX is set: student code runs WITHOUT isolation")
            km.sandboxed = False
        else:
            check_isolation()  # raises IsolationUnavailable with the reason
        return km

    def preprocess(self, nb, resources=None, km=None):  # type: ignore[override]
        self._deadline = time.monotonic() + self.notebook_timeout
        self._restarts = 0
        self._out_bytes: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._failed: set[int] = set()
        self._dead = False
        return super().preprocess(nb, resources, km)

    # -- per cell ------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):  # type: ignore[override]
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if self._dead:
            cell.outputs = [_error(KILLED, "not run: the kernel was killed too often in this notebook")]
            return cell, self.resources
        if time.monotonic() > self._deadline:
            cell.outputs = [_error(BUDGET, f"not run: the notebook used its {self.notebook_timeout} s budget")]
            return cell, self.resources
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        restored = None
        if nbg.get("grade") and not nbg.get("solution"):
            restored = self._guard(cell)
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except (DeadKernelError, CellTimeoutError, RuntimeError, Empty, asyncio.TimeoutError) as e:
            why = ("the kernel died (memory limit, crash or exit)" if isinstance(e, DeadKernelError)
                   else f"the cell exceeded its {self.timeout} s time limit and ignored the interrupt")
            self.log.error("Cell %d: %s; restarting the kernel", index, why)
            cell.outputs = list(cell.get("outputs", []))
            cell.outputs.append(_error(KILLED, why))
            self._failed.add(index)
            self.nb.cells[index] = cell
            self._recover(index)
        if restored:
            cell.outputs.insert(0, NotebookNode(
                output_type="stream", name="stdout",
                text=f"[grader: before this test, restored names the notebook had rebound: {restored}]\n"))
        elif restored is None and nbg.get("grade") and not nbg.get("solution"):
            cell.outputs.append(_error(TAMPER, "the grader's integrity check could not run before this test"))
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            self._failed.add(index)
        return cell, self.resources

    def _guard(self, cell) -> str | None:
        """Restore rebound builtins/numpy/lmsample names in the kernel; '' if none, None if it failed."""
        try:
            msg_id = self.kc.execute("pass", silent=True, store_history=False,
                                     user_expressions={"r": "__lmgrade_restore__()"})
            reply = self.wait_for_reply(msg_id, cell)
        except Exception as e:  # noqa: BLE001
            self.log.warning("integrity guard: %s", e)
            return None
        if not reply or reply["content"].get("status") != "ok":
            return None
        r = reply["content"].get("user_expressions", {}).get("r", {})
        if r.get("status") != "ok":
            return None
        text = r.get("data", {}).get("text/plain", "")
        return text.strip("'\"")

    def _recover(self, index: int) -> None:
        self._restarts += 1
        if self._restarts > self.max_restarts:
            self._dead = True
            return
        try:
            run_sync(self._async_fresh_kernel)()
            self._replay(index)
        except Exception as e:  # noqa: BLE001 - a broken restart must not stop the others
            self.log.error("Could not restart the kernel: %s", e)
            self._dead = True

    async def _async_fresh_kernel(self) -> None:
        try:
            await self._async_cleanup_kernel()
        except Exception as e:  # noqa: BLE001
            self.log.warning("cleanup after kill: %s", e)
        self.km = None
        self.kc = None
        self.create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()

    def _replay(self, upto: int) -> None:
        """Re-run silently the code cells before `upto` that ran without error."""
        for j in range(upto):
            c = self.nb.cells[j]
            if c.cell_type != "code" or not c.source.strip() or j in self._failed:
                continue
            if time.monotonic() > self._deadline:
                return
            msg_id = self.kc.execute(c.source, silent=True, store_history=False)
            reply = self.wait_for_reply(msg_id, c)
            if reply is None:
                raise RuntimeError(f"replaying cell {j} timed out")

    # -- output cap ----------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):  # type: ignore[override]
        if msg.get("msg_type") == "error":
            return super().output(outs, msg, display_id, cell_index)
        try:
            size = len(json.dumps(msg.get("content", {}), default=str))
        except (TypeError, ValueError):
            size = self.max_output_bytes + 1
        used = self._out_bytes.get(cell_index, 0) + size
        self._out_bytes[cell_index] = used
        if used > self.max_output_bytes:
            if cell_index not in self._truncated:
                self._truncated.add(cell_index)
                outs.append(NotebookNode(
                    output_type="stream", name="stdout",
                    text=f"\n[grader: output truncated after {self.max_output_bytes} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)
