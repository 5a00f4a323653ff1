"""Registration reaches every process that runs agent loops: proven in fresh interpreters.

A Ray worker only does ``import verl`` (which loads ``verl.plugins`` entry points, swallowing their
errors) or imports ``actor_rollout_ref.model.external_lib`` while building its model config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRY_POINT = "verl_plugin.register"

# Runs `import verl` first and alone, then reports what got registered.
PROBE = textwrap.dedent("""
    import json, sys
    import verl
    loaded = "verl_plugin.register" in sys.modules
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
    from verl.experimental.agent_loop.tool_parser import ToolParser
    from hydra.core.plugins import Plugins
    from hydra.plugins.search_path_plugin import SearchPathPlugin
    search = [c.__name__ for c in Plugins.instance().discover(SearchPathPlugin)]
    print(json.dumps({"loaded_by_import_verl": loaded,
                      "agent_loop": _agent_loop_registry.get("codegym_agent"),
                      "tool_parser": "codegym" in ToolParser._registry,
                      "hydra_search_path": "CodeGymSearchPathPlugin" in search}))
""")


def _probe(extra_path: str | None = None, **env: str) -> dict:
    environ = {**os.environ, **env}
    environ.pop("VERL_USE_EXTERNAL_MODULES", None)
    if extra_path:
        environ["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, environ.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=environ,
                          cwd=str(Path.home()), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_entry_point_target_registers_everything_on_import_verl(tmp_path: Path) -> None:
    """veRL's own loader, in a fresh process, given a distribution declaring our entry point."""
    dist = tmp_path / "codegym_probe-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: codegym-probe\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(f"[verl.plugins]\ncodegym_probe = {ENTRY_POINT}\n")
    report = _probe(str(tmp_path), VERL_USE_EXTERNAL_PLUGINS="codegym_probe")
    assert report == {"loaded_by_import_verl": True,
                      "agent_loop": {"_target_": "verl_plugin.agent_loop.CodeGymAgentLoop"},
                      "tool_parser": True,
                      "hydra_search_path": True}


def test_installed_distribution_declares_the_verl_plugins_entry_point() -> None:
    points = [ep for ep in metadata.entry_points(group="verl.plugins") if ep.value == ENTRY_POINT]
    assert points, (
        "codegym-adapters does not declare the verl.plugins entry point: add "
        '[project.entry-points."verl.plugins"] codegym = "verl_plugin.register" to pyproject.toml '
        "and rerun scripts/venv-verl.sh"
    )
    assert points[0].dist is not None and points[0].dist.metadata["Name"] == "codegym-adapters"


def test_installed_entry_point_registers_on_import_verl() -> None:
    if not any(ep.value == ENTRY_POINT for ep in metadata.entry_points(group="verl.plugins")):
        pytest.fail("entry point not installed (see test_installed_distribution_declares_...)")
    report = _probe()
    assert report["loaded_by_import_verl"] and report["agent_loop"] and report["tool_parser"]
    assert report["hydra_search_path"]


def test_plugins_off_then_external_lib_in_the_model_config_registers(model_dir: Path) -> None:
    """With entry points disabled, building the worker's model config (as AgentLoopWorker does)
    imports ``external_lib`` from the env group, which registers the loop."""
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r}); sys.path.append({str(REPO)!r})
        from harness import compose_config
        import verl
        assert "verl_plugin.register" not in sys.modules
        from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
        assert "codegym_agent" not in _agent_loop_registry
        from verl.utils.config import omega_conf_to_dataclass
        config = compose_config({str(model_dir)!r})
        omega_conf_to_dataclass(config.actor_rollout_ref.model)
        print(json.dumps(_agent_loop_registry.get("codegym_agent")))
    """)
    environ = {**os.environ, "VERL_USE_EXTERNAL_PLUGINS": "none"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environ, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"_target_": "verl_plugin.agent_loop.CodeGymAgentLoop"}


def test_registering_twice_is_harmless() -> None:
    import importlib

    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    import verl_plugin.register as register

    importlib.reload(register)
    assert _agent_loop_registry["codegym_agent"] == {"_target_": "verl_plugin.agent_loop.CodeGymAgentLoop"}
