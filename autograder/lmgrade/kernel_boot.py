"""First code the sandboxed kernel runs, before any student code: limits, files, the grader's way in.

Runs as `python kernel_boot.py -f CONNECTION_FILE [ipykernel args]`.
"""
import os
import resource
import shutil
import sys
import warnings


def _limit(name, value):
    if value is None:
        return
    try:
        resource.setrlimit(getattr(resource, name), (value, value))
    except (ValueError, OSError) as e:  # never start a kernel without telling why
        print(f"lmgrade: could not set {name}: {e}", file=sys.stderr)


def _mb(var, default):
    v = int(os.environ.get(var, default))
    return v * 2**20 if v > 0 else None


_limit("RLIMIT_AS", _mb("LMGRADE_MEM_MB", 4096))          # memory (address space) per process
_limit("RLIMIT_FSIZE", _mb("LMGRADE_FSIZE_MB", 64))       # largest file it may write
_limit("RLIMIT_NPROC", int(os.environ.get("LMGRADE_NPROC", 64)))  # processes + threads
_limit("RLIMIT_CORE", 0)
_cpu = int(os.environ.get("LMGRADE_CPU_S", 1800))
_limit("RLIMIT_CPU", _cpu if _cpu > 0 else None)          # backstop; per-cell wall time is nbgrader's

# The assignment's data files (never its notebooks) are copied into the private home.
_data = os.path.expanduser("~/.data")
if os.path.isdir(_data):
    for _root, _dirs, _files in os.walk(_data):
        _rel = os.path.relpath(_root, _data)
        os.makedirs(os.path.join(os.getcwd(), _rel), exist_ok=True)
        for _f in _files:
            try:
                shutil.copyfile(os.path.join(_root, _f), os.path.join(os.getcwd(), _rel, _f))
            except OSError as _e:
                print(f"lmgrade: could not copy {_f}: {_e}", file=sys.stderr)


# The grader's way in: it calls the student's functions through these two, with plain data (wire.py
# beside this file). They decide nothing: the answers go back to the grader, which compares them with
# the expected values in its own process. Student code can rebind or break them; that only changes
# the answers its own functions are credited with, which it controls anyway.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire as _wire  # noqa: E402

del sys.path[0]


def _lmgrade_call(request):
    import json

    from IPython import get_ipython

    name, args, kwargs, *repeat = _wire.loads(request)
    f = get_ipython().user_ns.get(name)
    if f is None or not callable(f):
        return json.dumps({"missing": name})
    try:
        with warnings.catch_warnings():  # a correct answer that makes numpy warn is still correct
            warnings.simplefilter("ignore")
            if repeat:  # n calls with the same arguments (lmsample.checks.call_repeatedly)
                result = [f(*args, **kwargs) for _ in range(int(repeat[0]))]
            else:
                result = f(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the exception is part of the answer
        return json.dumps({"raised": [c.__name__ for c in type(e).__mro__], "message": str(e)[:2000]})
    try:
        return json.dumps({"returned": _wire.encode(result), "args": _wire.encode(list(args))},
                          allow_nan=False, separators=(",", ":"))
    except (_wire.WireError, ValueError, TypeError) as e:
        return json.dumps({"unsendable": str(e)[:500]})


from ipykernel.zmqshell import ZMQInteractiveShell as _Shell  # noqa: E402

#: the shell's methods as ipykernel defines them, taken before any student code runs
_METHODS = {m: getattr(_Shell, m) for m in (
    "run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback", "user_expressions", "ev",
    "transform_cell", "transform_ast", "should_run_async")}
_OURS = ("IPython.", "ipykernel.", "matplotlib_inline.", "matplotlib.", "ipywidgets.", "ipympl.", "comm.", "jupyter_")


def _module(obj) -> str:
    return str(getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "") or "")


def _lmgrade_inspect():
    """What the notebook changed in how IPython runs code (for the instructor's summary)."""
    import json
    import threading

    from IPython import get_ipython

    shell = get_ipython()
    found = []
    if shell.ast_transformers:
        found.append("AST transformers")
    if shell.input_transformers_post or any(not _module(t).startswith(_OURS) for t in shell.input_transformers_cleanup):
        found.append("input transformers")
    for event, callbacks in shell.events.callbacks.items():
        if any(not _module(c).startswith(_OURS) for c in callbacks):
            found.append(f"{event} hooks")
    if shell.custom_exceptions:
        found.append("a custom exception handler (set_custom_exc)")
    for method, original in _METHODS.items():
        if method in vars(shell) or type(shell) is not _Shell or getattr(_Shell, method) is not original:
            found.append(f"shell.{method} replaced")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        found.append("a trace or profile function")
    mine = [t for t in threading.enumerate() if _module(getattr(t, "_target", None)) == "__main__"
            or _module(type(t)) == "__main__"]
    if mine:
        found.append(f"{len(mine)} thread(s) started by the notebook")
    if builtins.__dict__.get("__lmgrade_call__") is not _lmgrade_call:
        found.append("the grader's call function rebound")
    return json.dumps(found)


import builtins  # noqa: E402

builtins.__lmgrade_call__ = _lmgrade_call
builtins.__lmgrade_inspect__ = _lmgrade_inspect

# In the sandbox, the connection file lies in the read-only shared folder and names sockets on the
# kernel's private tmpfs: work on a copy there (ipykernel writes the file back after binding).
_args = sys.argv[1:]
if "-f" in _args and os.path.isdir("/run/lmgrade"):
    _i = _args.index("-f") + 1
    _copy = os.path.join("/run/lmgrade", "connection.json")
    shutil.copyfile(_args[_i], _copy)
    _args[_i] = _copy
sys.argv = ["ipykernel_launcher"] + _args
from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
