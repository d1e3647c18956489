"""First code the sandboxed kernel runs, before any student code: limits, files, warnings.

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


def _showwarning(message, category, filename, lineno, file=None, line=None):
    # nbgrader gives 0 to a graded cell that wrote to stderr: a warning goes to stdout instead,
    # so a correct answer that makes numpy or torch warn keeps its points and still shows it.
    sys.stdout.write("Warning: " + warnings.formatwarning(message, category, filename, lineno, line))


warnings.showwarning = _showwarning


def _install_guard():
    """Snapshot the names tests rely on; `__lmgrade_restore__()` puts back what a notebook rebound.

    The grader calls it (silently) before every autograded test cell, so a solution cell that
    sets `numpy.allclose = lambda *a, **k: True`, rebinds a builtin or patches `lmsample` cannot
    make the tests pass. Best effort: code in the same process can still defeat it deliberately.
    """
    import builtins
    import importlib
    import math

    mods = {"builtins": builtins, "math": math}
    for name in ("numpy", "numpy.random", "numpy.linalg", "numpy.testing", "lmsample"):
        try:
            mods[name] = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module is fine
            pass
    snap = {m: (mod, {k: v for k, v in vars(mod).items() if k not in ("_", "__", "___")})
            for m, mod in mods.items()}
    real_modules = {m: mod for m, mod in mods.items()}
    _sys = sys

    def restore():
        changed = []
        for m, (mod, saved) in snap.items():
            if _sys.modules.get(m) is not real_modules[m]:
                _sys.modules[m] = real_modules[m]
                changed.append(m)
            d = vars(mod)
            for k, v in saved.items():
                if d.get(k, restore) is not v:
                    try:
                        setattr(mod, k, v)
                    except (AttributeError, TypeError):
                        d[k] = v
                    changed.append(f"{m}.{k}")
        builtins.__lmgrade_restore__ = restore
        return ", ".join(changed)

    builtins.__lmgrade_restore__ = restore
    snap["builtins"][1]["__lmgrade_restore__"] = restore


_install_guard()

sys.argv = ["ipykernel_launcher"] + sys.argv[1:]
from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
