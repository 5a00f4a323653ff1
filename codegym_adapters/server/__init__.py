"""``codegym serve``: the env server that speaks the upstream env-server protocol (see :mod:`.app`)."""
