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
- **Test cells are not run in the kernel.** Their source is taken from the gradebook and run in
  this process (``verdict.py``): the student's functions are called in the kernel through plain
  data, and the checks are decided here. The cell's outputs are the grader's report: nothing if
  every check passed, else one error saying which visible check failed (expected and got), or only
  that a hidden test failed. nbgrader then scores the cell as usual (an error means 0).
- After the last cell, what the notebook changed in how IPython runs code (hooks, transformers,
  replaced shell methods, threads...) is asked of the kernel and the student's code is scanned for
  the same; findings are reported to the instructor on the first code cell (``LmgradeTampering``).
"""
from __future__ import annotations

import ast
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

from . import wire
from .sandbox import SandboxKernelManager, check_isolation, opted_out
from .tamper import scan_sources
from .verdict import NoAnswer, judge

#: ename of the error outputs this preprocessor writes; the summary reads them back.
KILLED = "LmgradeKernelKilled"
BUDGET = "LmgradeNotebookTimeout"
TAMPER = "LmgradeTampering"
FAILED = "LmgradeTestFailed"


def _students(cell) -> bool:
    """Whether a code cell holds the student's code (not a locked cell or a test restored from the gradebook)."""
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return not nbg.get("locked") and not (nbg.get("grade") and not nbg.get("solution"))


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class SandboxExecute(Execute):

    max_output_bytes = Integer(
        100_000, help="Output kept per cell (bytes of message content); errors are always kept."
    ).tag(config=True)
    max_notebook_output_bytes = Integer(
        2_000_000, help="Output kept for the whole notebook (bytes); later output is dropped, errors kept."
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
        self._gradebook_info = dict((resources or {}).get("nbgrader", {}))
        self._tamper_reported = False
        self._deadline = time.monotonic() + self.notebook_timeout
        self._restarts = 0
        self._out_bytes: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._failed: set[int] = set()
        self._dead = False
        return super().preprocess(nb, resources, km)

    # -- per cell ------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):  # type: ignore[override]
        cell, resources = self._process_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1:
            self._report_tampering()
        return cell, resources

    def _process_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if self._dead:
            cell.outputs = [_error(KILLED, "not run: the kernel was killed too often in this notebook")]
            return cell, self.resources
        if time.monotonic() > self._deadline:
            cell.outputs = [_error(BUDGET, f"not run: the notebook used its {self.notebook_timeout} s budget")]
            return cell, self.resources
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if nbg.get("grade") and not nbg.get("solution"):
            self._judge(cell, index, nbg.get("grade_id"))
            return cell, self.resources
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
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            self._failed.add(index)
        return cell, self.resources

    # -- tests: judged here, answered by the kernel -----------------------------------------------
    def _trusted_source(self, grade_id):
        """The test cell's source as the instructor wrote it (hidden tests included), from the
        gradebook; never the notebook's copy."""
        info = self._gradebook_info
        if not grade_id or not {"db_url", "notebook", "assignment"} <= set(info):
            return None
        from nbgrader.api import Gradebook, MissingEntry

        try:
            with Gradebook(info["db_url"]) as gb:
                return gb.find_source_cell(grade_id, info["notebook"], info["assignment"]).source
        except MissingEntry:
            return None

    def _ask(self, request: str, cell) -> str:
        """One call of a student's function in the kernel; the JSON text it answered."""
        if self._dead:
            raise NoAnswer("the kernel was killed too often in this notebook")
        if time.monotonic() > self._deadline:
            raise NoAnswer(f"the notebook used its {self.notebook_timeout} s budget")
        try:
            msg_id = self.kc.execute("", silent=True, store_history=False,
                                     user_expressions={"a": f"__lmgrade_call__({request!r})"})
            reply = self.wait_for_reply(msg_id, cell)
        except (DeadKernelError, CellTimeoutError, RuntimeError, Empty, asyncio.TimeoutError) as e:
            raise NoAnswer(f"the kernel stopped ({type(e).__name__})") from None
        if reply is None:
            raise NoAnswer(f"no answer within the {self.timeout} s time limit")
        content = reply.get("content", {})
        answer = content.get("user_expressions", {}).get("a", {})
        if content.get("status") != "ok" or answer.get("status") != "ok":
            raise NoAnswer("the kernel did not run the grader's call (the notebook changed how code runs: "
                           f"{answer.get('ename') or content.get('ename') or 'no reply'})")
        text = answer.get("data", {}).get("text/plain", "")
        if len(text) > 4 * wire.MAX_ANSWER:
            raise NoAnswer("the answer was too large")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise NoAnswer("the answer was not readable") from None
        if type(value) is not str:
            raise NoAnswer("the answer was not readable")
        return value

    def _judge(self, cell, index: int, grade_id) -> None:
        source = self._trusted_source(grade_id)
        if source is None:  # a cell that only claims to be a test: never run, never scored
            cell.outputs = []
            self.log.warning("Cell %d claims to be a test (%s) but the gradebook has no such test", index, grade_id)
            return
        started = time.monotonic()
        verdict = judge(source, lambda request: self._ask(request, cell))
        self.log.debug("test %s judged in %.2f s: %s", grade_id, time.monotonic() - started,
                       "passed" if verdict.passed else "failed")
        cell.outputs = [] if verdict.passed else [_error(FAILED, verdict.message)]
        cell.execution_count = None
        if verdict.no_answer and not self._dead:
            self._failed.add(index)
            self._recover(index)

    def _report_tampering(self) -> None:
        """Flag, on the first code cell, what the notebook did to the kernel or tried in its code."""
        if getattr(self, "_tamper_reported", False):
            return
        self._tamper_reported = True
        found = scan_sources([c.source for c in self.nb.cells if c.cell_type == "code" and _students(c)])
        if not self._dead:
            try:
                msg_id = self.kc.execute("", silent=True, store_history=False,
                                         user_expressions={"r": "__lmgrade_inspect__()"})
                reply = self.wait_for_reply(msg_id)
                r = (reply or {}).get("content", {}).get("user_expressions", {}).get("r", {})
                if r.get("status") == "ok":
                    found += [f"kernel: {x}" for x in json.loads(ast.literal_eval(r["data"]["text/plain"]))][:20]
                else:
                    found.append("kernel: the grader's inspection did not run")
            except Exception as e:  # noqa: BLE001 - a broken kernel is itself worth reporting
                found.append(f"kernel: the grader's inspection failed ({type(e).__name__})")
        if found:
            first = next((c for c in self.nb.cells if c.cell_type == "code"), None)
            if first is not None:
                first.outputs = list(first.get("outputs", [])) + [_error(TAMPER, "; ".join(dict.fromkeys(found)))]

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
        total = sum(self._out_bytes.values())
        if used > self.max_output_bytes or total > self.max_notebook_output_bytes:
            if cell_index not in self._truncated:
                self._truncated.add(cell_index)
                limit = (f"{self.max_output_bytes} bytes" if used > self.max_output_bytes
                         else f"{self.max_notebook_output_bytes} bytes for the whole notebook")
                outs.append(NotebookNode(
                    output_type="stream", name="stdout",
                    text=f"\n[grader: output truncated after {limit}]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)
