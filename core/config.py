"""Configuration: configs/default.yaml, an optional user file, and environment overrides, loaded once into
typed sections (:class:`Config`).

Environment variables ``CRATE_<SECTION>__<KEY>`` override nested keys (values parsed as YAML scalars);
``DATABASE_URL`` overrides ``storage.database_url``; ``CRATE_CONFIG`` names an extra YAML file merged on top.
A key the defaults lack is a :class:`ConfigError` naming it, and so is a value of the wrong type.

Every section is a dataclass (``cfg.discogs.per_page``: typed, checked by mypy). Sections also read like the
mappings they are loaded from (``cfg["discogs"]["per_page"]``, ``cfg.get("learning", {})``), and a dict of
sections — a test's or the demo's variation of the configuration — becomes a :class:`Config` again through
:func:`as_config`.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import typing
from collections.abc import Iterator, Mapping
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


class Section(Mapping[str, Any]):
    """A typed configuration section that also reads (and, for tests' variations, writes) like a mapping."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self._names():
            raise KeyError(key)
        setattr(self, key, value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def update(self, other: Mapping[str, Any] | None = None, **kw: Any) -> None:
        for k, v in {**dict(other or {}), **kw}.items():
            self[k] = v

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.to_dict() if isinstance(v, Section) else copy.deepcopy(v)) for k, v in self.items()}


@dataclasses.dataclass
class PathsConfig(Section):
    data_dir: str
    catalogue: str
    catalogue_labels: str
    catalogue_community: str
    vocab_dir: str
    models_dir: str
    cache_dir: str


@dataclasses.dataclass
class StorageConfig(Section):
    database_url: str


@dataclasses.dataclass
class SecretsConfig(Section):
    key_file: str


@dataclasses.dataclass
class DemoConfig(Section):
    user: str
    collection: str


@dataclasses.dataclass
class EmbeddingConfig(Section):
    model_package: str
    batch_size: int


@dataclasses.dataclass
class EnsembleConfig(Section):
    size: int
    below_positives: int


@dataclasses.dataclass
class VerdictsConfig(Section):
    buy_share: float
    maybe_share: float


@dataclasses.dataclass
class ModelConfig(Section):
    min_records: int
    max_train_records: int
    cold_start_rate: float
    negative_ratio: float
    min_negatives: int
    calibration_fraction: float
    calibration_method: str
    refit_after_calibration: bool
    calibration_folds: int
    feature_folds: int
    base_rate: float | str          # a probability, or "auto"
    tag_features: bool
    tag_min_rows: int
    categorical_features: bool
    contrast_features: bool
    vote_k: int
    contrast_tags: bool
    presence_gap: float
    ensemble: EnsembleConfig
    neighbours_k: int
    seed: int
    catboost: dict[str, Any]        # CatBoost's own parameters, passed through
    verdicts: VerdictsConfig


@dataclasses.dataclass
class ScoringConfig(Section):
    buy_threshold: float
    maybe_threshold: float
    max_reasons: int


@dataclasses.dataclass
class EvalConfig(Section):
    min_records: int
    test_fraction: float
    min_distinct_days: int
    list_negatives: int
    k: int
    seed: int


@dataclasses.dataclass
class DiscogsConfig(Section):
    base_url: str
    user_agent: str
    rate_limit_auth: int
    rate_limit_anon: int
    rate_window_s: float
    retry_attempts: int
    retry_base_s: float
    retry_cap_s: float
    connect_timeout_s: float
    read_timeout_s: float
    price_ttl_s: float
    per_page: int
    refresh_after_days: float
    live: bool
    prices: bool


@dataclasses.dataclass
class ImportsConfig(Section):
    max_file_bytes: int
    max_decompressed_bytes: int
    max_ratio: float
    max_items: int
    max_values: int
    max_depth: int
    max_cell_bytes: int
    max_row_bytes: int


@dataclasses.dataclass
class PhotoConfig(Section):
    max_bytes: int
    max_pixels: int
    pixel_budget: int
    max_decoded_bytes: int
    max_aspect: float
    max_side: int
    time_budget_s: float
    threads: int
    ocr: bool
    ocr_regions: int


@dataclasses.dataclass
class WeightsConfig(Section):
    bought: float
    implicit_bought: float
    like: float
    dislike: float
    weak_negative: float
    disagreement_boost: float
    collection: float
    sampled_negative: float


@dataclasses.dataclass
class LearningConfig(Section):
    weights: WeightsConfig
    weak_negative_after: int
    holdout_fraction: float
    tolerance: float
    keep_versions: int
    retrain_after_feedback: int
    nightly_at: str
    retrain_delay_s: float
    misfire_grace_s: float
    training_workers: int
    digest_every_days: float
    schedule_in_bot: bool


@dataclasses.dataclass
class DiscoverConfig(Section):
    catalogue_db: str
    index_file: str
    exact_below: int
    nprobe: int
    refine_factor: int
    candidates: int
    rerank: int
    explore_sample: int
    page_size: int
    adventurous: float
    mmr_lambda: float
    recent_days: float
    batch: int
    digest_picks: int


@dataclasses.dataclass
class WorkersConfig(Section):
    processes: bool


@dataclasses.dataclass
class Config(Section):
    """The whole configuration, one typed section per heading of configs/default.yaml."""

    paths: PathsConfig
    storage: StorageConfig
    secrets: SecretsConfig
    demo: DemoConfig
    embedding: EmbeddingConfig
    model: ModelConfig
    scoring: ScoringConfig
    eval: EvalConfig
    discogs: DiscogsConfig
    imports: ImportsConfig
    photo: PhotoConfig
    learning: LearningConfig
    discover: DiscoverConfig
    workers: WorkersConfig


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """``value`` as the annotated ``kind`` (YAML and the environment give ints for floats, strings for ints)."""
    if isinstance(kind, type) and issubclass(kind, Section):
        if isinstance(value, kind):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a section of keys, got {value!r}")
        return build_section(kind, value, where)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if kind is int:
            if not number.is_integer():
                raise ConfigError(f"{where}: expected a whole number, got {value!r}")
            return int(number)
        return number
    if kind is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a text value, got {value!r}")
        return str(value)
    if typing.get_origin(kind) is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a section of keys, got {value!r}")
        return dict(value)
    args = typing.get_args(kind)
    if float in args and str in args:   # a number, or a word such as "auto"
        try:
            return float(value)
        except (TypeError, ValueError):
            return str(value)
    return value


def build_section(kind: type, data: Mapping[str, Any], where: str = "configuration") -> Any:
    """A section of type ``kind`` from its mapping: every key present, none unknown, each of its type."""
    hints = typing.get_type_hints(kind)
    names = [f.name for f in dataclasses.fields(kind)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown configuration key {unknown[0]!r} (see configs/default.yaml)")
    missing = [n for n in names if n not in data]
    if missing:
        raise ConfigError(f"{where}: missing configuration key {missing[0]!r}")
    return kind(**{n: _coerce(data[n], hints[n], f"{where}.{n}" if where != "configuration" else n)
                   for n in names})


def as_config(cfg: Config | Mapping[str, Any]) -> Config:
    """``cfg`` as a :class:`Config` (a dict of sections or of plain mappings is checked and converted)."""
    if isinstance(cfg, Config):
        return cfg
    return build_section(Config, cfg)


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process's configuration, loaded once (``get_config.cache_clear()`` reloads it)."""
    return as_config(load_config())


def resolve_path(p: str | Path) -> Path:
    """Expand ``~`` and make project-relative paths absolute."""
    path = Path(os.path.expanduser(str(p)))
    return path if path.is_absolute() else PROJECT_ROOT / path


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and every missing folder above it 0700 (``mkdir(parents=True, mode=…)`` gives the parents
    the umask's 0755): the data folder holds collections, tokens' ciphertext and models, for its owner only."""
    p = Path(path)
    missing = []
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:   # made by another process an instant ago
            pass
    return Path(path)


def database_url(cfg: Config | None = None) -> str:
    url = (cfg or get_config()).storage.database_url
    if url.startswith("sqlite:///"):
        p = resolve_path(url[len("sqlite:///"):])
        private_dir(p.parent)
        return f"sqlite:///{p}"
    return url
