"""Configuration: configs/default.yaml, an optional user file, and environment overrides.

Environment variables ``CRATE_<SECTION>__<KEY>`` override nested keys (values parsed as YAML scalars);
``DATABASE_URL`` overrides ``storage.database_url``; ``CRATE_CONFIG`` names an extra YAML file merged on top.
"""
from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"


class ConfigError(ValueError):
    """A configuration that names a key the product does not have (a typo would otherwise be ignored)."""


#: sections whose keys are passed through as they are (CatBoost's own parameters)
OPEN_SECTIONS = {("model", "catboost")}


def check_keys(known: dict[str, Any], given: dict[str, Any], where: str, path: tuple[str, ...] = ()) -> None:
    """Raise :class:`ConfigError` naming the first key of ``given`` that ``known`` (the defaults) lacks."""
    for k, v in (given or {}).items():
        dotted = ".".join(path + (str(k),))
        if path in OPEN_SECTIONS:
            continue
        if not isinstance(known, dict) or k not in known:
            raise ConfigError(f"{where}: unknown configuration key {dotted!r} (see configs/default.yaml)")
        if isinstance(v, dict) and isinstance(known[k], dict):
            check_keys(known[k], v, where, path + (str(k),))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _env_overrides(env: dict[str, str]) -> dict[str, Any]:
    over: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith("CRATE_") or "__" not in name:
            continue
        keys = name[len("CRATE_"):].lower().split("__")
        node = over
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        try:
            node[keys[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[keys[-1]] = raw
    if env.get("DATABASE_URL"):
        over.setdefault("storage", {})["database_url"] = env["DATABASE_URL"]
    return over


def load_config(env: dict[str, str] | None = None, path: Path | None = None) -> dict[str, Any]:
    """The defaults, the ``CRATE_CONFIG`` file over them, the environment over both. A key the defaults do
    not have — in the file or in a ``CRATE_<SECTION>__<KEY>`` variable — is a :class:`ConfigError` naming it."""
    env = dict(os.environ) if env is None else env
    with open(path or DEFAULT_CONFIG, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    extra = env.get("CRATE_CONFIG")
    if extra:
        with open(extra, encoding="utf-8") as fh:
            user = yaml.safe_load(fh) or {}
        if not isinstance(user, dict):
            raise ConfigError(f"{extra}: a configuration file is a mapping of sections")
        check_keys(cfg, user, extra)
        cfg = _merge(cfg, user)
    over = _env_overrides(env)
    for name in env:
        if name.startswith("CRATE_") and "__" in name:
            check_keys(cfg, _env_overrides({name: env[name]}), f"environment variable {name}")
    return _merge(cfg, over)


@lru_cache(maxsize=1)
def get_config() -> dict[str, Any]:
    return load_config()


def resolve_path(p: str | Path) -> Path:
    """Expand ``~`` and make project-relative paths absolute."""
    path = Path(os.path.expanduser(str(p)))
    return path if path.is_absolute() else PROJECT_ROOT / path


def database_url(cfg: dict[str, Any] | None = None) -> str:
    cfg = cfg or get_config()
    url = cfg["storage"]["database_url"]
    if url.startswith("sqlite:///"):
        p = resolve_path(url[len("sqlite:///"):])
        p.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{p}"
    return url
