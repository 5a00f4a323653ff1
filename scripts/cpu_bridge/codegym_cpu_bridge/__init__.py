"""Bridges that let veRL 0.9.1's real trainer and vLLM's CPU backend train CodeGym agents on a CPU.

Scripts and tests use this package (installed only into ``.venv-train``); codegym-adapters never
imports it. Each module names the upstream limitation it works around; see ``../README.md``.
"""
