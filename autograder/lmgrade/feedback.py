"""Feedback that never shows hidden tests.

nbgrader's feedback is rendered from the autograded notebook, in which the hidden tests were
restored; its HTML shows them (nbgrader issue 917). This preprocessor, run by
`nbgrader generate_feedback` after GetGrades, removes from every cell:
- the source between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``;
- any traceback, error message or printed line that quotes a hidden line; an error raised by a
  hidden test becomes "a hidden test failed" (the student still sees that the cell scored 0).
"""
from __future__ import annotations

import re

from nbformat.notebooknode import NotebookNode

from nbgrader.preprocessors import NbGraderPreprocessor

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PLACEHOLDER = "# (hidden tests: not shown)"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HIDDEN_FAILED = "a hidden test failed (hidden tests are not shown)"


def split_hidden(source: str) -> tuple[str, list[str]]:
    """The source without its hidden sections, and the hidden lines (stripped, non-trivial)."""
    shown, hidden, inside = [], [], False
    for line in source.splitlines():
        s = line.strip()
        if s.startswith(BEGIN):
            inside = True
            shown.append(line.replace(s, PLACEHOLDER))
            continue
        if s.startswith(END):
            inside = False
            continue
        if inside:
            if s and not s.startswith("#") and len(s) > 3:
                hidden.append(s)
        else:
            shown.append(line)
    return "\n".join(shown), hidden


LINE_PREFIX = re.compile(r"^\s*(-*>)?\s*\d*\s*")


def _quotes(text: str, hidden: list[str]) -> bool:
    """Whether `text` quotes a hidden line, in whole or in part (a traceback may cut a line)."""
    for line in ANSI.sub("", text).splitlines():
        piece = LINE_PREFIX.sub("", line).strip()
        if any(h in piece for h in hidden):
            return True
        if len(piece) >= 8 and any(piece in h for h in hidden):
            return True
    return False


def scrub_cell(cell: NotebookNode) -> NotebookNode:
    if BEGIN not in cell.get("source", ""):
        return cell
    cell.source, hidden = split_hidden(cell.source)
    outputs = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error":
            text = "\n".join(out.get("traceback", [])) + "\n" + str(out.get("evalue", ""))
            if _quotes(text, hidden) or _quotes(str(out.get("evalue", "")), hidden) or not hidden:
                out = NotebookNode(output_type="error", ename=out.get("ename", "Error"),
                                   evalue=HIDDEN_FAILED,
                                   traceback=[f"{out.get('ename', 'Error')}: {HIDDEN_FAILED}"])
            else:
                # An error from the visible part can still carry values a hidden line computed.
                out.traceback = [t for t in out.get("traceback", []) if not _quotes(t, hidden)]
        elif kind == "stream":
            lines = out.get("text", "").splitlines(keepends=True)
            out.text = "".join(l for l in lines if not _quotes(l, hidden))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if any(_quotes(str(v), hidden) for v in data.values()):
                continue
        outputs.append(out)
    if cell.get("cell_type") == "code":
        cell.outputs = outputs
    return cell


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests and anything quoting them from the feedback."""

    def preprocess(self, nb, resources):  # type: ignore[override]
        for cell in nb.cells:
            scrub_cell(cell)
        return nb, resources
