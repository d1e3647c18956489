"""Run a student's kernel inside a bubblewrap sandbox.

The kernel sees a minimal filesystem: the system libraries, the Python installation, the
virtualenv and the `lmsample` package without its reference solutions (stripped.py), all read-only; a small private tmpfs as its home and
working directory (holding copies of the assignment's data files, never a notebook); and one
folder shared with the grader that holds the connection file and the ipc sockets. It has no
network (its own empty network namespace), its own process namespace, and resource limits set
before any student code runs (see `kernel_boot.py`).

nbgrader talks to the kernel over jupyter_client's ``ipc`` transport (unix sockets in the shared
folder), which works across network namespaces, unlike tcp on loopback.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, Unicode, default

from . import stripped

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT = os.path.join(HERE, "kernel_boot.py")
BOOT_IN_SANDBOX = "/opt/lmgrade/kernel_boot.py"
WIRE = os.path.join(HERE, "wire.py")
#: where the sandboxed kernel binds its ipc sockets (a private 4 MB tmpfs)
SOCKETS_IN_SANDBOX = "/run/lmgrade"
HOME_IN_SANDBOX = "/home/student"

#: Environment variable with which an instructor explicitly opts out of isolation.
OPT_OUT_ENV = "LMGRADE_NO_SANDBOX"

#: Files of /etc the kernel may need (dynamic linker, users, fonts, time zone). Nothing else.
ETC_FILES = [
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/fonts", "/etc/alternatives",
    "/etc/hosts", "/etc/matplotlibrc", "/etc/mime.types",
]
SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]


class IsolationUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create the sandbox on this machine."""


def opted_out() -> bool:
    return os.environ.get(OPT_OUT_ENV, "") not in ("", "0", "no", "false")


async def _sandbox_child(bwrap_pid: int, timeout: float = 10.0) -> int:
    """The pid of bwrap's child: the first process inside the sandbox's namespaces."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == bwrap_pid:
                    return int(entry)
        await asyncio.sleep(0.01)
    raise RuntimeError(f"the sandbox (bwrap pid {bwrap_pid}) did not start its kernel")


class _Args:
    """Builds a bwrap argument list, creating every parent folder world-traversable."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.made: set[str] = {"/"}

    def _parents(self, path: str) -> None:
        parent = os.path.dirname(path.rstrip("/"))
        chain = []
        while parent not in self.made:
            chain.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(chain):
            self.args += ["--perms", "0755", "--dir", d]
            self.made.add(d)

    def bind(self, src: str, dest: str | None = None, rw: bool = False) -> None:
        dest = dest or src
        self._parents(dest)
        self.args += ["--bind" if rw else "--ro-bind", src, dest]
        self.made.add(dest)

    def symlink(self, target: str, dest: str) -> None:
        self._parents(dest)
        self.args += ["--symlink", target, dest]
        self.made.add(dest)

    def tmpfs(self, dest: str, size: int, perms: str = "0777") -> None:
        self._parents(dest)
        self.args += ["--perms", perms, "--size", str(size), "--tmpfs", dest]
        self.made.add(dest)


def sandbox_uid() -> int | None:
    """The unprivileged uid the kernel runs as when the grader runs as root (else None).

    Running the kernel under its own uid makes RLIMIT_NPROC effective (root is exempt from it)
    and denies the kernel every root-owned file even if one were bound by mistake.
    """
    if os.geteuid() != 0:
        return None
    return int(os.environ.get("LMGRADE_UID", "61000"))


def bwrap_command(shared_dir: str, data_dir: str | None, inner: list[str], env: dict[str, str],
                  home_size: int = 256 * 2**20) -> list[str]:
    """The bwrap command that runs `inner` in the sandbox.

    shared_dir: bound read-only at the same path (the connection file); the kernel's ipc sockets
    live on a small tmpfs of its own (SOCKETS_IN_SANDBOX), which the grader reaches through
    /proc/<pid>/root, so nothing the kernel writes lands on the host's disk.
    data_dir: bound read-only at /home/student/.data (files copied into the home at start).
    """
    bwrap = os.environ.get("LMGRADE_BWRAP") or shutil.which("bwrap")
    if not bwrap or not os.access(bwrap, os.X_OK):
        raise IsolationUnavailable(f"bubblewrap (bwrap) is not installed ({bwrap or 'not on PATH'})")
    a = _Args()
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            a.symlink(os.readlink(d), d)
        elif os.path.isdir(d):
            a.bind(d)
    for f in ETC_FILES:
        if os.path.exists(f):
            a.bind(f)
    # The private /tmp and home come before the binds below, which may lie inside them (a course
    # checked out under /tmp): mounted later, the tmpfs would hide the virtualenv and the package.
    a.args += ["--proc", "/proc", "--dev", "/dev"]
    a.tmpfs("/tmp", 64 * 2**20, "1777")
    a.tmpfs(HOME_IN_SANDBOX, home_size)
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    for p in sorted(prefixes):
        if not any(p.startswith(s + "/") for s in SYSTEM_DIRS) and p not in SYSTEM_DIRS:
            a.bind(p)
    if os.path.realpath(sys.prefix) != sys.prefix:  # a venv reached through a symlink
        a.bind(sys.prefix)
    # lmsample (wherever it is installed, editable or not) without its reference solutions (stripped.py)
    package, copy = stripped.for_installed()
    a.bind(copy, package)
    a.bind(BOOT, BOOT_IN_SANDBOX)
    a.bind(WIRE, os.path.join(os.path.dirname(BOOT_IN_SANDBOX), "wire.py"))
    if data_dir:
        a.bind(data_dir, HOME_IN_SANDBOX + "/.data")
    a.bind(shared_dir)
    a.tmpfs(SOCKETS_IN_SANDBOX, 4 * 2**20, "1777")
    cmd = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session",
           "--hostname", "sandbox"]
    uid = sandbox_uid()
    if uid is None:
        cmd += ["--unshare-user"]
    else:
        # bwrap runs privileged (no user namespace); setpriv then drops to the kernel's own uid.
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    cmd += a.args + ["--chdir", HOME_IN_SANDBOX, "--clearenv"]
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd += ["--"]
    if uid is not None:
        cmd += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]
    return cmd + inner


def kernel_env(extra: dict[str, str] | None = None, sandboxed: bool = True) -> dict[str, str]:
    home = HOME_IN_SANDBOX if sandboxed else os.environ.get("HOME", "/tmp")
    _threads = os.environ.get("LMGRADE_THREADS", "1")
    env = {
        "PATH": os.path.join(sys.prefix, "bin") + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": home + "/.mpl",
        "IPYTHONDIR": home + "/.ipython",
        "JUPYTER_CONFIG_DIR": home + "/.jupyter",
        "JUPYTER_RUNTIME_DIR": home + "/.jupyter/runtime",
        # one worker per core: a kernel gets one BLAS/OpenMP/torch thread (LMGRADE_THREADS)
        "OPENBLAS_NUM_THREADS": _threads, "OMP_NUM_THREADS": _threads, "MKL_NUM_THREADS": _threads,
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde"),
    }
    for k in ("LMGRADE_MEM_MB", "LMGRADE_NPROC", "LMGRADE_FSIZE_MB", "LMGRADE_CPU_S"):
        if k in os.environ:
            env[k] = os.environ[k]
    if sandbox_uid() is None:
        # RLIMIT_NPROC counts every process of the uid: leave room for what already runs.
        env["LMGRADE_NPROC"] = str(_count_tasks(os.getuid()) + int(env.get("LMGRADE_NPROC", "64")))
    env.update(extra or {})
    return env


def _count_tasks(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                st = os.stat(f"/proc/{pid}")
                if st.st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return n


@functools.lru_cache(maxsize=1)
def check_isolation() -> str:
    """Start a throw-away sandbox and check that it holds. Returns a one-line description.

    Raises IsolationUnavailable with the reason when it does not.
    """
    probe = (
        "import os, socket, sys\n"
        "assert not os.path.exists(%r), 'grader files visible'\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=2); print('NET')\n"
        "except OSError:\n"
        "    pass\n"
        "print('OK', os.getuid())\n"
    ) % os.path.dirname(HERE)
    with tempfile.TemporaryDirectory(prefix="lmgrade-probe-") as tmp:
        _share(tmp)
        try:
            cmd = bwrap_command(tmp, None, [sys.executable, "-c", probe], kernel_env())
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as e:
            raise IsolationUnavailable(f"bubblewrap failed to start: {e}") from e
    if out.returncode != 0 or "OK" not in out.stdout or "NET" in out.stdout:
        raise IsolationUnavailable(
            "bubblewrap could not build the sandbox: " + (out.stderr.strip() or out.stdout.strip())[-400:])
    uid = sandbox_uid()
    return ("bubblewrap sandbox: no network, private /tmp and home, read-only system and venv, "
            + (f"kernel uid {uid}" if uid is not None else "user namespace"))


def _share(path: str) -> None:
    """Let the sandboxed kernel's uid write into the shared folder."""
    uid = sandbox_uid()
    if uid is not None:
        os.chown(path, uid, uid)
    os.chmod(path, 0o700)


def copy_data_files(src: str | None, dest: str, max_bytes: int = 64 * 2**20) -> str | None:
    """Copy the assignment's data files from `src` to `dest`: never a notebook (the autograded
    notebook holds the hidden tests), never a symlink, at most `max_bytes` in all."""
    shutil.rmtree(dest, ignore_errors=True)
    if not src or not os.path.isdir(src):
        return None
    total = 0
    skip = os.path.realpath(os.path.dirname(dest))
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(root, d))
                   and os.path.realpath(os.path.join(root, d)) != skip]
        for f in files:
            path = os.path.join(root, f)
            if f.endswith(".ipynb") or os.path.islink(path) or not os.path.isfile(path):
                continue
            total += os.path.getsize(path)
            if total > max_bytes:
                return dest if os.path.isdir(dest) else None
            target = os.path.join(dest, os.path.relpath(path, src))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(path, target)
    return dest if os.path.isdir(dest) else None


class SandboxKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel runs in the bubblewrap sandbox over ipc sockets."""

    sandboxed = Bool(True, help="Run the kernel in bubblewrap (False only when the instructor opted out).").tag(config=True)
    scratch_root = Unicode("", help="Folder under which each kernel gets its own scratch folder.").tag(config=True)
    data_dir = Unicode("", help="Folder whose files (no notebooks) are copied into the kernel's home.").tag(config=True)
    home_size = Integer(256 * 2**20, help="Size of the kernel's private home (tmpfs), bytes.").tag(config=True)

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    _kdir: str | None = None

    def _scratch(self) -> str:
        if self._kdir is None:
            root = self.scratch_root or os.environ.get("LMGRADE_SCRATCH") or None
            if root:
                os.makedirs(root, exist_ok=True)
            self._kdir = tempfile.mkdtemp(prefix="k-", dir=root)
            _share(self._kdir)
            self.ip = os.path.join(self._kdir, "kernel")
            self.connection_file = os.path.join(self._kdir, "connection.json")
        return self._kdir

    async def _async_pre_start_kernel(self, **kw: Any):  # type: ignore[override]
        self._scratch()
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kdir = self._scratch()
        cwd = self._launch_args.get("cwd") if isinstance(self._launch_args, dict) else None
        extra = list(extra_arguments or [])
        if not self.sandboxed:
            return [sys.executable, BOOT, "-f", self.connection_file] + extra
        uid = sandbox_uid()
        if uid is not None and os.path.exists(self.connection_file):
            os.chown(self.connection_file, uid, uid)
        data = copy_data_files(self.data_dir or cwd, os.path.join(kdir, "data"))
        # The kernel's copy of the connection file names its sockets on its own tmpfs; kernel_boot
        # copies it there (the shared folder is read-only to the kernel).
        inside = os.path.join(kdir, "connection-sandbox.json")
        with open(self.connection_file) as f:
            info = json.load(f)
        info["ip"] = os.path.join(SOCKETS_IN_SANDBOX, "kernel")
        with open(inside, "w") as f:
            json.dump(info, f)
        os.chmod(inside, 0o644)
        return bwrap_command(kdir, data, [sys.executable, BOOT_IN_SANDBOX, "-f", inside] + extra,
                             kernel_env(), home_size=self.home_size)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self.sandboxed:
            kw.pop("cwd", None)  # bwrap chdirs into the sandbox home
            kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            # The kernel's own chatter (not the student's output, which goes over iopub).
            log = open(os.path.join(self._scratch(), "kernel.log"), "ab")  # noqa: SIM115
            kw["stdout"] = kw["stderr"] = log
        else:
            kw["env"] = {**os.environ, **kernel_env(sandboxed=False)}
            kw["env"]["LMGRADE_DATA"] = ""
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if self.sandboxed:
            # the grader talks to the sockets through the sandbox's root, as seen from here
            child = await _sandbox_child(self.provisioner.process.pid)
            self.ip = f"/proc/{child}/root{SOCKETS_IN_SANDBOX}/kernel"

    async def interrupt_kernel(self) -> None:  # type: ignore[override]
        """Interrupt with a control message: a SIGINT to the process group would hit bwrap."""
        if not self.has_kernel:
            return
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._kdir:
            shutil.rmtree(self._kdir, ignore_errors=True)
            self._kdir = None

    cleanup_resources = _async_cleanup_resources  # type: ignore[assignment]
