"""What a notebook's own code tries against the grader, read from its source (never run).

Grading does not depend on this: verdicts are decided outside the student's process (verdict.py),
so these tricks earn nothing. The instructor is still told, because a student who tried them
deserves a look even when the score is 0.
"""
from __future__ import annotations

import re

#: (pattern, what it means), matched against the student's code cells
SIGNS = [
    (r"\binput_transformers_(post|cleanup)\b|\bast_transformers\b", "changes how IPython reads cells (transformers)"),
    (r"\bevents\s*\.\s*register\b|\bpre_run_cell\b|\bpost_run_cell\b|\bpre_execute\b|\bpost_execute\b", "registers IPython event hooks"),
    (r"\bset_custom_exc\b|\bshowtraceback\b|\bCustomTB\b", "changes how errors are reported"),
    (r"\brun_cell(_async)?\b|\brun_ast_nodes\b|\brun_code\b|\buser_expressions\b|\bInteractiveShell\b|\bZMQInteractiveShell\b",
     "replaces IPython's code execution"),
    (r"__lmgrade", "touches the grader's own functions"),
    (r"\bsys\s*\.\s*_getframe\b|\binspect\s*\.\s*(stack|currentframe|getouterframes)\b|\bf_back\b|\bf_globals\b|\bf_locals\b",
     "reads the calling frames"),
    (r"\bpublish_display_data\b|\bdisplay_pub\b|\bsend_response\b", "publishes raw outputs (could fake a result)"),
    (r"(?<![\w.])In(?=\s*[\[\),.])|\b_ih\b|\bOut\s*\[|\b_oh\b|\bhistory_manager\b", "reads the notebook's input history (In/_ih)"),
    (r"\b__code__\b|\bFunctionType\b|\bCodeType\b|\bco_code\b", "builds or swaps function code objects"),
    (r"\bsys\s*\.\s*settrace\b|\bsys\s*\.\s*setprofile\b|\bthreading\s*\.\s*settrace\b", "sets a trace function"),
    (r"\bthreading\b|\b_thread\b|\bmultiprocessing\b|\bos\s*\.\s*fork\b", "starts threads or processes"),
    (r"\bbuiltins\b|__builtins__", "rebinds builtins"),
    (r"\bsys\s*\.\s*modules\s*(\[[^\]]*\]\s*=(?!=)|\.\s*(update|pop|setdefault)\b)|\bimportlib\s*\.\s*reload\b", "swaps modules"),
    (r"\bget_ipython\s*\(\s*\)\s*\.\s*(kernel|shell|display_pub|displayhook|payload_manager)\b", "reaches into the kernel"),
]
_COMPILED = [(re.compile(p), what) for p, what in SIGNS]


def scan_sources(sources: list[str]) -> list[str]:
    """The signs found in the student's code, each once, in the order of SIGNS."""
    text = "\n".join(s for s in sources if s)
    return [f"code: {what}" for rx, what in _COMPILED if rx.search(text)]
