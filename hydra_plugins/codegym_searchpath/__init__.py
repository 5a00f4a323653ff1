"""Hydra search-path plugin of codegym-adapters (found by Hydra in the ``hydra_plugins`` namespace)."""
