"""The episode settings as command-line options, for ``codegym eval`` and ``codegym play``.

They are the fields of :class:`~codegym_adapters.episode.EpisodeConfig`, the object both trainers read
from their config (veRL ``env.episode.*``, OpenRLHF ``CODEGYM_*``), with the same names and defaults,
so a trajectory scores the same in eval as it is rewarded in training.
"""

from __future__ import annotations

import argparse
from typing import Any

from .argtypes import positive_int
from .calls import PARSE_FORMATS
from .episode import INVALID_CALL_POLICIES, REWARD_MODES, EpisodeConfig
from .reasoning import normalize_markers

_DEFAULTS = EpisodeConfig()


def _markers(text: str) -> Any:
    try:
        return normalize_markers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_episode_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the episode options (``--call-format``, ``--reasoning``, ``--invalid-call-policy``, ...)."""
    g = parser.add_argument_group("episode (the same settings as training: veRL env.episode.*, OpenRLHF CODEGYM_*)")
    g.add_argument("--call-format", choices=PARSE_FORMATS, default=_DEFAULTS.call_format,
                   help="how calls are read from the model's text: auto (codegym, hermes or bare JSON, "
                        "whichever the turn uses), one format only, or strict (the paper's reading: codegym "
                        "markers, a parameters object, one call per turn) (default: %(default)s)")
    g.add_argument("--reasoning", action=argparse.BooleanOptionalAction, default=_DEFAULTS.reasoning,
                   help="never search reasoning blocks (<think>...</think>) for calls (default: on)")
    g.add_argument("--reasoning-markers", type=_markers, default=_DEFAULTS.reasoning_markers,
                   metavar="OPEN,CLOSE[;OPEN,CLOSE]",
                   help="the reasoning block markers (default: <think>,</think>)")
    g.add_argument("--invalid-call-policy", choices=INVALID_CALL_POLICIES, default=_DEFAULTS.invalid_call_policy,
                   help="what an invalid call costs besides its error message: nothing (feedback), "
                        "--invalid-penalty off the final reward (penalty), or the episode after "
                        "--max-consecutive-invalid in a row (stop) (default: %(default)s)")
    g.add_argument("--invalid-penalty", type=_non_negative, default=_DEFAULTS.invalid_penalty, metavar="X",
                   help="reward subtracted per invalid call under the penalty policy (default: %(default)s)")
    g.add_argument("--max-consecutive-invalid", type=positive_int, default=_DEFAULTS.max_consecutive_invalid,
                   metavar="K", help="invalid calls in a row that end the episode under the stop policy "
                                     "(default: %(default)s)")
    g.add_argument("--reward", choices=REWARD_MODES, default=_DEFAULTS.reward,
                   help="env: the env's reward; binary: int(reward > 0), as the paper's client "
                        "(default: %(default)s)")
    g.add_argument("--turn-limit", type=positive_int, default=_DEFAULTS.default_turn_limit, metavar="N",
                   help="turn limit for tasks whose row gives none (default: %(default)s)")
    g.add_argument("--max-turns", type=positive_int, default=None, metavar="N",
                   help="cap on every episode's turn limit, the row's own included (default: no cap)")


def episode_config_from_args(args: argparse.Namespace, **overrides: Any) -> EpisodeConfig:
    """The :class:`EpisodeConfig` the options in ``args`` describe, with ``overrides`` applied."""
    values: dict[str, Any] = {
        "call_format": args.call_format,
        "reasoning": args.reasoning,
        "reasoning_markers": args.reasoning_markers,
        "invalid_call_policy": args.invalid_call_policy,
        "invalid_penalty": args.invalid_penalty,
        "max_consecutive_invalid": args.max_consecutive_invalid,
        "reward": args.reward,
        "default_turn_limit": args.turn_limit,
        "max_turns": args.max_turns,
    }
    values.update(overrides)
    return EpisodeConfig(**values)
