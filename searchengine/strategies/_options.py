"""``search.options`` shared by strategies: each strategy takes its own share.

A spec's options may be flat (``options: {n_startup_trials: 5}``) or keyed by strategy
(``options: {tpe: {n_startup_trials: 5}, evolution: {population_size: 8}}``), or both,
the keyed section winning. A strategy gets the flat options it knows and its own section;
flat options that only another registered strategy knows, and other strategies' sections,
are left out with a one-line note, so ``--strategy evolution`` on a spec tuned for TPE
runs. A key that no strategy knows is still an error (a typo must not pass).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from searchengine.errors import SearchEngineError, did_you_mean
from searchengine.strategies.base import STRATEGIES, Strategy, resolve_strategy

if TYPE_CHECKING:
    from searchengine.searchspace.loader import SpecSource

__all__ = ["create_strategy", "strategy_options"]

_log = logging.getLogger(__name__)
_noted: set[tuple[str, tuple[str, ...]]] = set()


def _fields(cls: type[Strategy]) -> set[str]:
    return set(cls.Options.model_fields)


def _split(
    name: str, cls: type[Strategy], options: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...], list[str]]:
    """This strategy's options, the YAML path of its own section, and the keys left out."""
    registered = dict(STRATEGIES.items())
    own_names = {name, cls.name} - {""}
    sections = {k for k, v in options.items() if isinstance(v, Mapping) and k in registered}
    sections |= {k for k, v in options.items() if isinstance(v, Mapping) and k in own_names}
    mine = _fields(cls)
    own: dict[str, Any] = {}
    left_out: list[str] = []
    for key, value in options.items():
        owners = [n for n, c in registered.items() if key in _fields(c)]
        if key in sections:
            if key not in own_names:
                left_out.append(f"{key} (the section of {key})")
        elif key in mine or not owners:
            own[key] = value  # ours, or nobody's: validation names the typo
        else:
            left_out.append(f"{key} (an option of {', '.join(owners)})")
    section = next((k for k in options if k in sections and k in own_names), None)
    if section is None:
        return own, ("search", "options"), left_out
    own.update(options[section])
    return own, ("search", "options", section), left_out


def strategy_options(
    name: str, options: Mapping[str, Any], *, note: bool = True
) -> dict[str, Any]:
    """The share of ``search.options`` that strategy ``name`` takes (module docstring).

    Args:
        name: a registered strategy name or ``package.module:ClassName``.
        options: the spec's ``search.options``.
        note: log once per process which options are left out, and why.

    Returns:
        The options to construct the strategy with (not validated yet).
    """
    own, _, left_out = _split(name, resolve_strategy(name), options)
    if note:
        _note(name, left_out)
    return own


def _note(name: str, left_out: list[str]) -> None:
    if not left_out or (name, tuple(left_out)) in _noted:
        return
    _noted.add((name, tuple(left_out)))
    _log.warning("search.options: %s does not take %s: ignored", name, "; ".join(left_out))


def strategy_name_issues(data: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """A check of a spec's raw data for :func:`searchengine.searchspace.load_spec`: its
    ``search.strategy`` names a registered strategy or a plug-in class."""
    search = data.get("search")
    name = search.get("strategy") if isinstance(search, Mapping) else None
    if not isinstance(name, str):
        return []
    try:
        resolve_strategy(name)
    except SearchEngineError as exc:
        return [(("search", "strategy"), str(exc))]
    return []


def create_strategy(
    name: str,
    options: Mapping[str, Any],
    *,
    seed: int | None,
    source: SpecSource | None = None,
) -> Strategy:
    """Resolve strategy ``name`` and construct it with its share of ``options``.

    Args:
        name: a registered strategy name or ``package.module:ClassName``.
        options: the spec's ``search.options`` (flat, keyed by strategy, or both).
        seed: the strategy's seed.
        source: where the spec came from, so errors name its file and line.

    Raises:
        UnknownNameError: an unknown strategy.
        SpecError: an option this strategy does not accept (and no other strategy
            knows), or a bad value; with the strategy's valid options.
    """
    from searchengine.searchspace.loader import SpecSource, _describe

    try:
        cls = resolve_strategy(name)
    except SearchEngineError as exc:
        source = source or SpecSource()
        raise source.error([source.issue(("search", "strategy"), str(exc))]) from None
    own, prefix, left_out = _split(name, cls, options)
    _note(name, left_out)
    try:
        validated = cls.Options.model_validate(own)
    except ValidationError as exc:
        source = source or SpecSource()
        known = sorted(_fields(cls))
        issues = []
        for err in exc.errors():
            loc, message = _describe(err, own)
            if err["type"] == "extra_forbidden":
                key = str(loc[-1])
                message = (
                    f"unknown key {key!r}{did_you_mean(key, known)} "
                    f"(options of {name}: {', '.join(known) or 'none'})"
                )
            issues.append(source.issue((*prefix, *loc), message))
        raise source.error(issues) from None
    return cls.for_options(validated)(seed=seed, **own)
