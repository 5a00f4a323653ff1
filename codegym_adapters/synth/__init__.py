"""``codegym synthesize``: new verified CodeGym envs from a user's own coding problems.

A pipeline of stages, one module each, every one resumable from its own jsonl in the output folder
(:mod:`.store`): :mod:`.stage_env` (the model writes the task text and the env file),
:mod:`.stage_tests` (configurations at three difficulty levels, with reference answers measured in
the sandbox), :mod:`.stage_oracle` (candidate ``solve()`` functions spliced in with :mod:`ast`, the
first that solves every unit test wins), :mod:`.stage_verify` (the ``solve_fc_round`` range, the full
``codegym verify`` gate, and the output files). :mod:`.pipeline` runs them; :mod:`.command` is the CLI.
The stages and gates follow the published CodeGym synthesis pipeline (arXiv 2509.17325, section 3;
``codegym-format.md`` section 5); prompts and code are our own. Generated code only ever runs in the
sandbox runtime.
"""
