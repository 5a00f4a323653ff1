"""The source of an env that attacks the kernel layers of the sandbox from inside a worker (the
tests write it into an env folder). ``Attack(kind, arg, unhook)`` runs one attack and returns a JSON
report: ``{"unhooked": ..., "results": {name: "ok: ..." | "refused: ..."}}``. With ``unhook`` the
tests run the worker without its audit hook (``audit_hook=False``; issue 10's way of disabling it,
a new code object for its refusal function, is now refused), so what refuses the attack is the kernel."""

SOURCE = r'''
import ast
import ctypes
import json
import mmap
import os
import signal
import socket

import gymnasium

CLONE_NEWUSER = 0x10000000


def unhook():
    """True when no audit hook refuses ctypes here: the worker runs with ``audit_hook=False`` (its
    refusal function can no longer be swapped from plain Python: replacing a function's __code__ is
    refused), so what follows meets the kernel layers alone."""
    try:
        ctypes.CDLL(None)
        return True
    except PermissionError:
        return False


def attempt(fn):
    try:
        return "ok: " + str(fn())[:300]
    except BaseException as exc:
        return f"refused: {type(exc).__name__}: {exc}"[:300]


def c_call(name, *args):
    result = getattr(ctypes.CDLL(None, use_errno=True), name)(*args)
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def write(path):
    with open(path, "w") as f:
        f.write("pwned")
    return path


def mkdir_at(folder, name):
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.mkdir(name, dir_fd=fd)
    finally:
        os.close(fd)
    return f"{folder}/{name}"


def memfd(mb):
    fd = os.memfd_create("hold")
    chunk = b"x" * (1 << 20)
    for _ in range(mb):
        os.write(fd, chunk)
    return f"holding {mb} MB in memfd {fd}"


def shared_map(mb):
    m = mmap.mmap(-1, mb << 20, flags=mmap.MAP_SHARED)
    for i in range(0, mb << 20, 4096):
        m[i] = 1
    return f"holding {mb} MB shared"


def tmpfs_fill(mb):
    chunk = b"x" * (1 << 20)
    for i in range(0, mb, 8):  # files of 8 MB: under the per-file cap, so the tmpfs cap is what stops it
        with open(f"/tmp/fill-{i}", "wb") as f:
            for _ in range(min(8, mb - i)):
                f.write(chunk)
    return f"wrote {mb} MB to /tmp"


def status(*keys):
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: fields[k].strip() for k in keys}


ATTACKS = {
    "ctypes": lambda arg: {
        "socket": attempt(lambda: c_call("socket", socket.AF_INET, socket.SOCK_STREAM, 0)),
        "ptrace": attempt(lambda: c_call("ptrace", 16, int(arg), 0, 0)),  # PTRACE_ATTACH
        "unshare_user": attempt(lambda: c_call("unshare", CLONE_NEWUSER)),
        "fork": attempt(lambda: c_call("fork")),
    },
    "unix_socket": lambda arg: {
        "socket": attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
        "connect": attempt(lambda: socket.socket(socket.AF_UNIX).connect(arg)),
        "socketpair": attempt(lambda: socket.socketpair()),
    },
    "unshare": lambda arg: {"unshare_user": attempt(lambda: c_call("unshare", CLONE_NEWUSER)),
                            "setns": attempt(lambda: c_call("setns", 0, 0))},
    "write": lambda arg: {path: attempt(lambda path=path: write(path)) for path in json.loads(arg)},
    "mkdir_dir_fd": lambda arg: {folder: attempt(lambda folder=folder: mkdir_at(folder, "pwned-dir"))
                                 for folder in json.loads(arg)},
    "memory": lambda arg: {"memfd": attempt(lambda: memfd(int(arg))),
                           "shared_map": attempt(lambda: shared_map(int(arg))),
                           "tmpfs": attempt(lambda: tmpfs_fill(int(arg)))},
    "signals": lambda arg: {str(pid): {
        "kill": attempt(lambda pid=pid: os.kill(pid, signal.SIGSTOP)),
        "pidfd_send_signal": attempt(lambda pid=pid: signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGSTOP)),
        "pidfd_open": attempt(lambda pid=pid: os.pidfd_open(pid)),
        "setpriority": attempt(lambda pid=pid: os.setpriority(os.PRIO_PROCESS, pid, 19)),
        "sched_setaffinity": attempt(lambda pid=pid: os.sched_setaffinity(pid, {0})),
        "tgkill": attempt(lambda pid=pid: c_call("syscall", 234, pid, pid, signal.SIGSTOP)),
    } for pid in json.loads(arg)},
    "self": lambda arg: {"kill_self_0": attempt(lambda: os.kill(os.getpid(), 0)),
                         "nice_self": attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, 19)),
                         "getpid": os.getpid()},
    "read": lambda arg: {path: attempt(lambda path=path: open(path).read(100)) for path in json.loads(arg)},
    "status": lambda arg: status("CapEff", "CapPrm", "CapInh", "CapAmb", "Seccomp", "NoNewPrivs"),
    "processes": lambda arg: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "honest": lambda arg: {"numpy": attempt(numpy_work), "stdlib": attempt(stdlib_work),
                           "workdir": attempt(workdir_work)},
}


def numpy_work():
    import numpy as np

    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    return [round(float(np.linalg.det(a)), 6), int(np.random.default_rng(0).integers(0, 10**6)),
            round(float(abs(np.fft.fft([1.0, 2.0, 3.0])[0])), 6)]


def stdlib_work():
    import decimal
    import sqlite3
    import xml.etree.ElementTree as ET
    import zipfile
    import zoneinfo

    db = sqlite3.connect(":memory:")
    db.execute("create table t (x)")
    return [ET.fromstring("<a><b>1</b></a>").find("b").text, str(decimal.Decimal("1.1") * 2),
            db.execute("select count(*) from t").fetchone()[0], bool(zipfile.ZipFile),
            str(zoneinfo.ZoneInfo("UTC"))]


def workdir_work():
    import tempfile

    with open("notes.txt", "w") as f:
        f.write("kept")
    with tempfile.NamedTemporaryFile("w") as f:
        f.write("x")
    return [open("notes.txt").read(), os.getcwd()]


class KernelProbeEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        self.reset({})

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("KernelProbeEnv@"):
            return None
        return KernelProbeEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def reset(self, options: dict = {}):
        self.value = 7
        self._reward = 0
        self._done = False
        return "Environment has been reset."

    def step(self, action: str):
        call = json.loads(action)
        name, params = call["name"], call.get("parameters", {})
        if name == "Observe":
            return True, self.Observe()
        if name == "Attack":
            return True, self.Attack(**params)
        if name == "Done":
            return True, self.Done(**params)
        return True, f"Error: unknown action {name}"

    def Observe(self):
        """Show the hidden value.

        Args:
            None
        Returns:
            str: the value.
        Example Output:
            "7"
        """
        return str(self.value)

    def Attack(self, kind: str, arg: str = "", unhook: bool = False):
        """Run one attack on the sandbox.

        Args:
            kind (str): which attack.
            arg (str): its argument.
            unhook (bool): disable the audit hook first.
        Returns:
            str: a JSON report.
        Example Output:
            "{}"
        """
        unhooked = unhook_done = globals().get("_UNHOOKED", False)
        if unhook and not unhook_done:
            unhooked = globals()["_UNHOOKED"] = unhook_fn()
        return json.dumps({"unhooked": unhooked, "results": ATTACKS[kind](arg)})

    def Done(self, answer):
        """Submit the value.

        Args:
            answer (int): the value seen with Observe.
        Returns:
            str: the verdict.
        Example Output:
            "reward=1"
        """
        self._reward = 1 if answer == self.value else 0
        self._done = True
        return f"reward={self._reward}"

    def get_ref_answer(self):
        return self.value

    def solve(self):
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": self.value}}))[1]


unhook_fn = unhook
'''
