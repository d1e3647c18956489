"""Verdicts in the grader's own process.

A test cell is never run in the student's kernel while grading. The grader takes the cell's source
from the gradebook (the instructor's version: visible and hidden tests), and runs it here, in its
own process, where every name the cell uses without defining it (``inverse_cdf_sample``,
``beam_search``...) is a :class:`StudentFunction`: calling it sends the arguments into the sandboxed
kernel, the student's function of that name runs there, and what it returned comes back as plain
data (``wire.py``). The checks (``lmsample.checks``, or plain ``assert``) then compare those values
with the expected ones here: the expected values, the hidden tests and the reference solutions never
enter the student's process, and nothing the student's code does there can make a check pass except
returning the right values.
"""
from __future__ import annotations

import builtins
import json
import symtable
from dataclasses import dataclass
from typing import Callable

try:  # as a package (nbgrader's config imports lmgrade.*) or beside the kernel's boot file
    from . import wire
    from .feedback import BEGIN, END
except ImportError:  # pragma: no cover
    import wire  # type: ignore[no-redef]
    from feedback import BEGIN, END  # type: ignore[no-redef]

HIDDEN_FAILED = "a hidden test failed (hidden tests are not shown)"


class NoAnswer(Exception):
    """The kernel gave no usable answer (time limit, dead kernel, the call mechanism broken)."""


class StudentError(Exception):
    """The student's function raised an exception that is not a builtin one."""


def _builtin_exception(names: list[str]) -> type[BaseException]:
    for name in names:
        cls = getattr(builtins, str(name), None)
        if isinstance(cls, type) and issubclass(cls, Exception) and cls is not Exception:
            return cls
    return StudentError


class StudentFunction:
    """Stands for the student's function ``name``: each call is answered by the student's kernel."""

    def __init__(self, name: str, ask: Callable[[str], str]):
        self.__name__ = name
        self._ask = ask

    def __repr__(self) -> str:
        return f"<your function {self.__name__}>"

    def __call__(self, *args, **kwargs):
        return self._call(wire.dumps((self.__name__, list(args), kwargs)), args, kwargs)

    def lmgrade_repeated(self, n: int, *args, **kwargs) -> list:
        """``n`` calls with the same arguments, answered in one round trip (lmsample.checks.call_repeatedly)."""
        if type(n) is not int or not 0 <= n <= 10**6:
            raise ValueError(f"call_repeatedly: n must be an int from 0 to 10**6, got {n!r}")
        result = self._call(wire.dumps((self.__name__, list(args), kwargs, n)), args, kwargs)
        if type(result) is not list or len(result) != n:
            raise NoAnswer(f"the answers of {self.__name__} were not {n} values")
        return result

    def _call(self, request: str, args, kwargs):
        reply = self._ask(request)
        if len(reply) > wire.MAX_ANSWER:
            raise NoAnswer(f"{self.__name__} returned more than {wire.MAX_ANSWER} characters of data")
        try:
            data = json.loads(reply)
        except ValueError:
            raise NoAnswer(f"the answer of {self.__name__} was not readable") from None
        if type(data) is not dict:
            raise NoAnswer(f"the answer of {self.__name__} was not readable")
        if "missing" in data:
            raise NameError(f"{self.__name__} is not defined in the notebook (did its cell run without error?)")
        if "raised" in data:
            names = [str(n) for n in data.get("raised") or []][:50] or ["Exception"]
            message = str(data.get("message", ""))[:2000]
            cls = _builtin_exception(names)
            error = cls(message if cls is not StudentError else f"{names[0]}: {message}")
            error.lmgrade_raised_by = (f"{self.__name__}({_args_repr(args, kwargs)})", names[0], message)
            raise error
        if "unsendable" in data:
            raise TypeError(f"{self.__name__} returned {str(data['unsendable'])[:300]}")
        try:
            result = wire.decode(data["returned"])
            after = wire.decode(data["args"])
        except (KeyError, TypeError, ValueError) as e:
            raise NoAnswer(f"the answer of {self.__name__} was not readable ({e})") from None
        _mirror(args, after)
        return result


def _args_repr(args, kwargs, limit: int = 160) -> str:
    import numpy as np

    def short(v):
        if type(v) is np.ndarray:
            return repr(v.tolist()) if v.size <= 12 else f"array of shape {v.shape}"
        if type(v) is np.random.Generator:
            return "rng"
        if type(v).__name__ == "TableLM":
            return "lm"
        return repr(v)

    text = ", ".join([*map(short, args), *(f"{k}={short(v)}" for k, v in kwargs.items())])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mirror(args, after) -> None:
    """Make the grader's arguments what the student's call left them: an array it modified in place,
    a random generator it advanced."""
    import numpy as np

    if type(after) is not list or len(after) != len(args):
        return
    for before, now in zip(args, after):
        if type(before) is np.ndarray and type(now) is np.ndarray and before.shape == now.shape:
            before[...] = now
        elif type(before) is np.random.Generator and type(now) is np.random.Generator:
            before.bit_generator.state = now.bit_generator.state
        elif type(before) is list and type(now) is list:
            before[:] = now


def free_names(source: str) -> set[str]:
    """Names the source reads without defining them at its top level (nor builtins)."""
    top = symtable.symtable(source, "<tests>", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used: set[str] = set()
    tables = [top]
    while tables:
        t = tables.pop()
        for s in t.get_symbols():
            if s.is_referenced() and (t is top or s.is_global()) and not (t is top and (s.is_assigned() or s.is_imported())):
                used.add(s.get_name())
        tables.extend(t.get_children())
    return {n for n in used - defined if not hasattr(builtins, n)}


def segments(source: str) -> list[tuple[str, bool]]:
    """``(code, hidden)``: the runs of visible and hidden lines in order, each padded with blank lines
    so that line numbers stay those of the cell."""
    kinds: list[bool | None] = []
    hidden = False
    for line in source.splitlines():
        s = line.strip()
        if s.startswith(BEGIN) or s.startswith(END):
            hidden = s.startswith(BEGIN)
            kinds.append(None)
        else:
            kinds.append(hidden)
    lines = source.splitlines()
    out, i = [], 0
    while i < len(lines):
        if kinds[i] is None:
            i += 1
            continue
        j = i
        while j < len(lines) and kinds[j] is kinds[i]:
            j += 1
        code = "\n" * i + "\n".join(lines[i:j])
        if code.strip():
            out.append((code, bool(kinds[i])))
        i = j
    return out


@dataclass
class Verdict:
    passed: bool
    message: str = ""          # what the student sees (never hidden code or values)
    no_answer: bool = False    # the kernel stopped answering: the grader must recover it


def judge(source: str, ask: Callable[[str], str]) -> Verdict:
    """Run a test cell's source here, with the student's functions answered by ``ask``."""
    try:
        names = free_names(source)
    except SyntaxError as e:
        return Verdict(False, f"the test cell does not compile ({e}): tell your instructor")
    namespace = {"__name__": "__lmgrade_tests__", "__builtins__": builtins}
    namespace.update({n: StudentFunction(n, ask) for n in names})
    for code, hidden in segments(source):
        try:
            exec(compile(code, "<hidden tests>" if hidden else "<tests>", "exec"), namespace)  # noqa: S102 - the instructor's tests
        except NoAnswer as e:
            return Verdict(False, f"no answer from your notebook: {e}", no_answer=True)
        except Exception as e:  # noqa: BLE001 - every failure is a verdict
            if hidden:
                return Verdict(False, HIDDEN_FAILED)
            raised_by = getattr(e, "lmgrade_raised_by", None)
            if raised_by:  # the student's function raised, where the test did not expect it
                name, kind, message = raised_by
                return Verdict(False, f"{name} raised {kind}: {message}".rstrip(": "))
            text = str(e) or "a test failed"
            return Verdict(False, f"{type(e).__name__}: {text}" if not isinstance(e, AssertionError) else text)
    return Verdict(True)
