"""Hydra's discovery point for codegym-adapters' search-path plugin (see verl_plugin.searchpath)."""

from verl_plugin.searchpath import CodeGymSearchPathPlugin

__all__ = ["CodeGymSearchPathPlugin"]
