"""``codegym doctor``: the layers this host gives (from a real sandbox worker), what to do about the
missing ones, and its exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codegym_adapters.doctor import EXIT_MISSING, EXIT_NO_SANDBOX, EXIT_OK, advice, diagnose
from codegym_adapters.runtime.limits import LAYERS, SandboxLimits

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel layers are Linux's")]


def codegym(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codegym_adapters.cli", *args], capture_output=True, text=True,
                          timeout=110)


@pytest.mark.skipif(os.geteuid() != 0, reason="as root here every layer must be in force")
def test_doctor_lists_every_layer_in_force_on_this_machine():
    done = codegym("doctor", "--json")
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and list(report["layers"]) == list(LAYERS)
    for name, layer in report["layers"].items():
        assert layer["in_force"] and layer["advice"] is None, (name, layer)
    assert report["layers"]["seccomp"]["detail"].startswith("on (")
    assert report["protections"]["user"].startswith("nobody")

    text = codegym("doctor")
    assert text.returncode == EXIT_OK
    for name in LAYERS:
        assert f"  {name} " in text.stdout
    assert "Every layer is in force." in text.stdout and "MISSING" not in text.stdout


def test_a_missing_layer_is_named_with_what_to_do_and_a_nonzero_exit():
    status, report = diagnose(SandboxLimits(seccomp=False))
    assert status == EXIT_MISSING and report["ok"] is False
    seccomp, memory = report["layers"]["seccomp"], report["layers"]["memory"]
    assert not seccomp["in_force"] and "turned off in the sandbox limits" in seccomp["advice"]
    assert not memory["in_force"] and "seccomp" in memory["advice"]  # memfd is only denied by seccomp
    if os.geteuid() == 0:
        assert report["layers"]["pid_namespace"]["in_force"] and report["layers"]["filesystem"]["in_force"]


def test_no_sandbox_at_all_exits_2():
    status, report = diagnose(SandboxLimits(start_timeout=0.001))
    assert status == EXIT_NO_SANDBOX and report["ok"] is False and "start" in report["error"]


def test_advice_for_a_user_without_namespaces_names_the_switches_to_turn():
    facts = {"euid": 1000, "unprivileged_userns_clone": "0", "apparmor_restrict_unprivileged_userns": "1",
             "max_user_namespaces": "0"}
    text = advice("pid_namespace", "missing (unshare with a user namespace: Operation not permitted)", facts)
    assert "run the trainer as root" in text
    assert "kernel.unprivileged_userns_clone=1" in text and "apparmor_restrict_unprivileged_userns=0" in text
    assert "user.max_user_namespaces" in text
    assert "CAP_SYS_ADMIN" in advice("filesystem", "missing (unshare: Operation not permitted)", {"euid": 0})
    assert "apt-get install libseccomp2" in advice("seccomp", "missing (libseccomp cannot be loaded (x))", facts)
    assert "pip install pyseccomp" in advice("seccomp", "missing (the pyseccomp package is not installed)", facts)


def _system_python() -> str | None:
    """A Python outside root's home, of this minor version (so this venv's packages load in it)."""
    for path in ("/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            version = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        if version == str(tuple(sys.version_info[:2])):
            return path
    return None


NO_USER_NAMESPACES = """
import os, sys, errno, pyseccomp
deny = pyseccomp.SyscallFilter(pyseccomp.ALLOW)  # a host where unprivileged namespaces are off
deny.add_rule(pyseccomp.ERRNO(errno.EPERM), "unshare")
deny.load()
os.execv(sys.executable, [sys.executable, "-s", "-m", "codegym_adapters.cli", "doctor", "--json"])
"""


def doctor_as_nobody(namespaces: bool) -> tuple[subprocess.CompletedProcess, bool]:
    """``codegym doctor --json`` run by ``nobody`` with the system Python (this venv's packages on
    its path); without ``namespaces``, under a filter that makes ``unshare`` fail, as on a host
    that does not allow unprivileged user namespaces. Also says whether ``nobody`` can make a user
    namespace here at all."""
    import site
    import tempfile

    path = os.pathsep.join([str(REPO), *site.getsitepackages()])
    command = ["-s", "-m", "codegym_adapters.cli", "doctor", "--json"] if namespaces else ["-c", NO_USER_NAMESPACES]
    with tempfile.TemporaryDirectory() as home:
        os.chmod(home, 0o777)
        nobody = {"user": 65534, "group": 65534, "extra_groups": [], "cwd": home}
        done = subprocess.run([_system_python(), *command], capture_output=True, text=True, timeout=110,
                              env={"PYTHONPATH": path, "HOME": home, "PATH": "/usr/bin:/bin"}, **nobody)
        userns = subprocess.run(["unshare", "--user", "--map-current-user", "true"], capture_output=True,
                                **nobody).returncode == 0
    return done, userns


def _nobody_can_read_the_checkout() -> bool:
    """A checkout in a folder only root may enter (``mktemp -d`` makes them 0700) cannot be imported
    by ``nobody``: the doctor would die on its first import, which says nothing about the doctor."""
    return subprocess.run(["test", "-r", str(REPO / "codegym_adapters" / "__init__.py")], user=65534,
                          group=65534, extra_groups=[]).returncode == 0


needs_nobody = pytest.mark.skipif(os.geteuid() != 0 or _system_python() is None or not _nobody_can_read_the_checkout(),
                                  reason="needs root (to become nobody), a system Python of this version and "
                                         "a checkout that nobody can read")


@needs_nobody
def test_as_nobody_the_doctor_reports_what_a_user_namespace_gives():
    """The non-root fallback: a trainer running as ``nobody`` gets the layers through a user
    namespace where the kernel allows one."""
    done, userns = doctor_as_nobody(namespaces=True)
    assert done.returncode in (EXIT_OK, EXIT_MISSING), done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["host"]["euid"] == 65534
    assert report["layers"]["seccomp"]["in_force"] and report["layers"]["capabilities"]["in_force"]
    if userns:  # as on this machine: every layer, inside a user namespace
        assert done.returncode == EXIT_OK and report["protections"]["user"] == "uid 65534 in a user namespace"


@needs_nobody
def test_without_user_namespaces_the_doctor_names_the_missing_layers_and_the_fix():
    done, _ = doctor_as_nobody(namespaces=False)
    assert done.returncode == EXIT_MISSING, done.stdout + done.stderr
    layers = json.loads(done.stdout)["layers"]
    for name in ("pid_namespace", "filesystem", "network"):
        assert not layers[name]["in_force"] and "Operation not permitted" in layers[name]["detail"]
        assert "run the trainer as root" in layers[name]["advice"], layers[name]
        assert "user namespaces" in layers[name]["advice"]
    for name in ("seccomp", "capabilities", "memory"):  # what needs no privilege still holds
        assert layers[name]["in_force"], (name, layers[name])
