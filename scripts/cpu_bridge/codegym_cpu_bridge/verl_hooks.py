"""Imported by veRL in every process through the ``verl.plugins`` entry point.

Registers the ``cpu`` platform (bridge 1/2, selected only with ``VERL_PLATFORM=cpu``) and the
``codegym_record`` trainer mode (records each step's token-level data for tests and the report).
"""

from . import platform, recorder  # noqa: F401  (registration happens at import)
