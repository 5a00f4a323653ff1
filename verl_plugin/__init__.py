"""CodeGym for veRL (0.9.x): add ``env: codegym`` to a veRL config and train on CodeGym episodes.

* :mod:`.agent_loop` - the ``codegym_agent`` agent loop: one env episode per trajectory.
* :mod:`.tool_parser` - the CodeGym call format as veRL tool parser ``codegym``.
* :mod:`.register` - importing it registers both (the ``verl.plugins`` entry point and
  ``actor_rollout_ref.model.external_lib`` import it in every worker).
* ``config/env/codegym.yaml`` - the Hydra config group; :mod:`.settings` reads its ``env:`` block.
* :mod:`.main_ppo` - ``python -m verl_plugin.main_ppo env=codegym ...``.
* :mod:`.reward` - the ``compute_score`` fallback; :mod:`.replay` and :mod:`.tiny_model` - a
  replaying LLM server and a tiny tokenizer, for tests, benchmarks and dry runs.
* :mod:`.dry_run` - ``python -m verl_plugin.dry_run``: rows through veRL's real agent-loop worker
  (:mod:`.inprocess`) with scripted policies as the model; its veRL token plumbing only, the rest is
  :mod:`codegym_adapters.dry_run`.

Importing this package imports nothing from veRL.
"""
