"""The package as a user installs it: `python -m build` makes an sdist and, from it, a wheel; `twine
check` passes; a fresh venv installs the wheel and everything works from there, not from this source
tree (issue 14, item 3).

What is installed for real: the wheel with its base dependencies and the `data` and `server` extras,
plus hydra-core (veRL's config library, to drive the Hydra search-path plugin). The `verl` and
`openrlhf` extras pull GPU stacks (CUDA torch, flash-attn) that cannot install here; for them the
test checks what the installed wheel declares (its Requires-Dist per extra) and that every entry
point they rely on resolves to a module inside the fresh venv (the trainers' own suites load them
with veRL and OpenRLHF installed). Takes about a minute: two isolated builds and one venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.timeout(600)

# What runs inside the fresh venv, from a temp folder: prints a JSON object of facts to check.
PROBE = textwrap.dedent('''
    import importlib.util, json, sys
    from importlib import metadata, resources
    from pathlib import Path

    prefix = Path(sys.prefix).resolve()
    def inside(path):
        return Path(path).resolve().is_relative_to(prefix)

    eps = {g: {ep.name: ep.value for ep in metadata.entry_points(group=g)}
           for g in ("console_scripts", "verl.plugins", "codegym_adapters.envs", "codegym_adapters.commands")}
    register = importlib.util.find_spec("verl_plugin.register")
    envs = metadata.entry_points(group="codegym_adapters.envs")["bundled"].load()
    commands = metadata.entry_points(group="codegym_adapters.commands")["openrlhf"].load()

    from hydra import compose, initialize
    from hydra.core.plugins import Plugins
    from hydra.plugins.search_path_plugin import SearchPathPlugin
    found = [f"{p.__module__}.{p.__name__}" for p in Plugins.instance().discover(SearchPathPlugin)]
    with initialize(version_base=None, config_path=None):
        cfg = compose(overrides=["+env=codegym"])

    import codegym_adapters, pyarrow
    print(json.dumps({
        "package_inside": inside(codegym_adapters.__file__),
        "entry_points": eps,
        "register_inside": bool(register) and inside(register.origin),
        "env_pack_inside": inside(envs.__file__),
        "env_files": len(list(resources.files(envs).glob("Bundled_*.py"))),
        "commands_inside": inside(sys.modules[commands.__module__].__file__),
        "hydra_plugins": found,
        "default_agent_loop": cfg.actor_rollout_ref.rollout.agent.default_agent_loop,
        "requires": metadata.requires("codegym-adapters"),
        "pyarrow_inside": inside(pyarrow.__file__),
    }))
''')


def _run(argv: list[str], cwd: Path, timeout: float = 300, env: dict | None = None, both: bool = False) -> str:
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr if both else out.stdout


BUILD_LOG: list[str] = []  # what `python -m build` printed


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel, the wheel built from the sdist (so the sdist is known to be complete)."""
    out = tmp_path_factory.mktemp("dist")
    BUILD_LOG.append(_run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], cwd=out, timeout=400,
                          both=True))
    return out


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh venv (no pip of its own: this one's pip installs into it) with the wheel, its base
    dependencies, the data and server extras, and hydra-core."""
    root = tmp_path_factory.mktemp("venv")
    # pytest makes its folders 0700; the sandbox's confined workers (user nobody) must read the venv,
    # as they must any real installation (a 0700 venv gets a worker-start error that says so)
    for folder in (root, *root.parents):
        if str(folder) in ("/", "/tmp"):
            break
        folder.chmod(folder.stat().st_mode | 0o055)
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=root)
    (wheel,) = dist.glob("*.whl")
    _run([sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "--quiet",
          "--disable-pip-version-check", f"{wheel}[data,server]", "hydra-core>=1.3"], cwd=root, timeout=400)
    return root


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("CODEGYM_")}
    return {**env, **extra}


def test_sdist_and_wheel_pass_twine_check(dist):
    files = sorted(p.name for p in dist.iterdir())
    assert sorted(f.rsplit(".", 1)[-1] for f in files) == ["gz", "whl"], files
    _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())], cwd=dist)


def test_the_build_has_no_setuptools_warning(dist):
    # e.g. "Package 'verl_plugin.config.env' is absent from the `packages` configuration"
    warnings = [line for line in BUILD_LOG[0].splitlines()
                if "warning" in line.lower() and "byte-compiling is disabled" not in line]  # PYTHONDONTWRITEBYTECODE
    assert warnings == [], BUILD_LOG[0][-3000:]


def test_the_wheel_carries_the_package_data(dist):
    import zipfile

    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "codegym_adapters/report_template.html" in names
    assert "verl_plugin/config/env/codegym.yaml" in names and "verl_plugin/config/codegym_trainer.yaml" in names
    assert "hydra_plugins/codegym_searchpath/codegym_searchpath.py" in names
    bundled = {n.rsplit("/", 1)[-1] for n in names if n.startswith("codegym_adapters/envs/Bundled_")}
    assert bundled == {p.name for p in (REPO / "envs").glob("Bundled_*.py")}


def test_installed_wheel_entry_points_work_outside_the_source_tree(venv, tmp_path):
    facts = json.loads(_run([str(venv / "bin" / "python"), "-c", PROBE], cwd=tmp_path, env=_clean_env()))
    assert facts["package_inside"] and facts["register_inside"] and facts["env_pack_inside"]
    assert facts["commands_inside"] and facts["pyarrow_inside"]
    eps = facts["entry_points"]
    assert eps["console_scripts"]["codegym"] == "codegym_adapters.cli:main"
    assert eps["verl.plugins"] == {"codegym": "verl_plugin.register"}
    assert eps["codegym_adapters.envs"] == {"bundled": "codegym_adapters.envs"}
    assert eps["codegym_adapters.commands"] == {"openrlhf": "openrlhf_plugin.command:register"}
    assert facts["env_files"] == len(list((REPO / "envs").glob("Bundled_*.py")))
    # Hydra finds the plugin by its own scan of the hydra_plugins namespace, and `+env=codegym` composes
    assert "verl_plugin.searchpath.CodeGymSearchPathPlugin" in facts["hydra_plugins"]
    assert facts["default_agent_loop"] == "codegym_agent"
    # the trainer extras are declared as the README says to install them
    requires = facts["requires"]
    assert any(r.startswith("verl[verl-core]") and 'extra == "verl"' in r for r in requires)
    assert any(r.startswith("openrlhf") and 'extra == "openrlhf"' in r for r in requires)


def test_installed_codegym_command_runs_outside_the_source_tree(venv, tmp_path):
    codegym = str(venv / "bin" / "codegym")
    env = _clean_env()
    version = _run([codegym, "--version"], cwd=tmp_path, env=env).strip()
    assert version == "codegym 0.1.0" or version.startswith("codegym ")
    listed = json.loads(_run([codegym, "list", "--json"], cwd=tmp_path, env=env))  # sandbox workers too
    assert len(listed) == len(list((REPO / "envs").glob("Bundled_*.py"))) and not any(r["error"] for r in listed)
    agent = Path(_run([codegym, "openrlhf-agent-path"], cwd=tmp_path, env=env).strip())
    assert agent.is_file() and agent.resolve().is_relative_to(venv.resolve())
    runtime_env = json.loads(_run([codegym, "openrlhf-runtime-env", "--working-dir", str(tmp_path)], cwd=tmp_path,
                                  env=_clean_env(CODEGYM_STEP_TIMEOUT="7")))
    assert runtime_env == {"env_vars": {"CODEGYM_STEP_TIMEOUT": "7"}, "working_dir": str(tmp_path)}
    _run([codegym, "build-data", "--envs", str(REPO / "envs" / "Bundled_A01__HouseRobberEnv.py"), "--out", "data",
          "--per-env", "2", "--format", "both", "--no-progress"], cwd=tmp_path, env=env)
    assert (tmp_path / "data" / "train.parquet").is_file() and (tmp_path / "data" / "train.jsonl").is_file()
