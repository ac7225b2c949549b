"""Configuration on pydantic-settings: configs/default.yaml, an optional user file (``CRATE_CONFIG``) over it,
and the environment over both, validated into typed sections (:class:`Config`).

``CRATE_<SECTION>__<KEY>`` variables override nested keys (``env_prefix="CRATE_"``, ``env_nested_delimiter="__"``);
``DATABASE_URL`` overrides ``storage.database_url``. Unknown keys are forbidden: a key the defaults lack — in the
file or in a variable — is a :class:`ConfigError` naming it, and so is a value of the wrong type.

Every section is a pydantic model (``cfg.discogs.per_page``: typed, checked by mypy). Sections also read like the
mappings they are loaded from (``cfg["discogs"]["per_page"]``), so the model layer, which takes plain mappings,
reads them as well; a dict of sections — a test's or the demo's variation of the configuration — becomes a
:class:`Config` again through :func:`as_config`.
"""
from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"
ENV_PREFIX, ENV_NESTED = "CRATE_", "__"
S = TypeVar("S", bound="Section")


class ConfigError(ValueError):
    """A configuration that names a key the product does not have (a typo would otherwise be ignored), or a
    value of the wrong type."""


def _scalar(value: Any) -> Any:
    """A value from the environment as YAML reads it ("64" → 64, "true" → True); others as they are."""
    if isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def _number_or_word(value: Any) -> Any:
    """A number when it reads as one ("0.3"), else the word ("auto")."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class Section(BaseModel, Mapping[str, Any]):
    """A typed configuration section that also reads (and, for tests' variations, writes) like a mapping."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in type(self).model_fields:
            raise KeyError(key)
        setattr(self, key, value)

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # a mapping's keys, not pydantic's pairs
        return iter(type(self).model_fields)

    def __len__(self) -> int:
        return len(type(self).model_fields)

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields

    def keys(self) -> Any:
        return type(self).model_fields.keys()

    def items(self) -> Any:
        return [(k, getattr(self, k)) for k in type(self).model_fields]

    def values(self) -> Any:
        return [getattr(self, k) for k in type(self).model_fields]

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in type(self).model_fields else default

    def update(self, other: Mapping[str, Any] | None = None, **kw: Any) -> None:
        for k, v in {**dict(other or {}), **kw}.items():
            self[k] = v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class PathsConfig(Section):
    data_dir: str
    catalogue: str
    catalogue_labels: str
    catalogue_community: str
    vocab_dir: str
    models_dir: str
    cache_dir: str


class StorageConfig(Section):
    database_url: str


class SecretsConfig(Section):
    key_file: str


class DemoConfig(Section):
    user: str
    collection: str


class EmbeddingConfig(Section):
    model_package: str
    batch_size: int


class EnsembleConfig(Section):
    size: int
    below_positives: int


class VerdictsConfig(Section):
    buy_share: float
    maybe_share: float


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
    base_rate: Annotated[float | str, BeforeValidator(_number_or_word)]   # a probability, or "auto"
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
    catboost: dict[str, Annotated[Any, BeforeValidator(_scalar)]]   # CatBoost's own parameters, passed through
    verdicts: VerdictsConfig


class ScoringConfig(Section):
    buy_threshold: float
    maybe_threshold: float
    max_reasons: int
    models_in_memory: int


class EvalConfig(Section):
    min_records: int
    test_fraction: float
    min_distinct_days: int
    list_negatives: int
    k: int
    seed: int


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


class ImportsConfig(Section):
    max_file_bytes: int
    max_decompressed_bytes: int
    max_ratio: float
    max_items: int
    max_values: int
    max_depth: int
    max_cell_bytes: int
    max_row_bytes: int


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
    ocr_extra_s: float


class WeightsConfig(Section):
    bought: float
    implicit_bought: float
    like: float
    dislike: float
    weak_negative: float
    disagreement_boost: float
    collection: float
    sampled_negative: float


class LearningConfig(Section):
    weights: WeightsConfig
    weak_negative_after: int
    holdout_fraction: float
    tolerance: float
    clearly_worse: float
    keep_versions: int
    retrain_after_feedback: int
    nightly_at: str
    retrain_delay_s: float
    misfire_grace_s: float
    training_workers: int
    digest_every_days: float
    schedule_in_bot: bool
    leader_ttl_s: float
    dask_scheduler: str
    skip_unchanged: bool


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


class AudioConfig(Section):
    enabled: bool
    in_bot: bool
    tracks_per_release: int
    deezer_limit: int
    deezer_window_s: float
    itunes_limit: int
    itunes_window_s: float
    timeout_s: float
    attempts: int
    backoff_s: float
    retry_after_days: float
    sounds_like_at: float
    per_run: int
    start_after_s: float


class WorkersConfig(Section):
    processes: bool


class WatchConfig(Section):
    daily_cap: int
    quiet_hours: str
    poll_every_min: float
    keep_share: float


class Config(Section):
    """The whole configuration, one typed section per heading of configs/default.yaml."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

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
    audio: AudioConfig
    workers: WorkersConfig
    watch: WatchConfig


class _Environment(EnvSettingsSource):
    """``CRATE_<SECTION>__<KEY>`` variables of the given environment (not necessarily ``os.environ``)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = dict(env)
        if env.get("DATABASE_URL"):
            self._given[f"{ENV_PREFIX}STORAGE{ENV_NESTED}DATABASE_URL"] = env["DATABASE_URL"]
        super().__init__(settings_cls, case_sensitive=False, env_prefix=ENV_PREFIX,
                         env_nested_delimiter=ENV_NESTED)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._given, False, self.env_ignore_empty, self.env_parse_none_str)


#: (environment, YAML files) of the load in progress: pydantic-settings asks the class for its sources
_LOADING: contextvars.ContextVar[tuple[Mapping[str, str], list[Path]]] = contextvars.ContextVar("crate_config")


class Settings(Config, BaseSettings):
    """The configuration as loaded: the YAML files, then the environment over them."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED, extra="forbid",
                                      case_sensitive=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        env, files = _LOADING.get()
        return (init_settings, _Environment(settings_cls, env),
                YamlConfigSettingsSource(settings_cls, yaml_file=files, deep_merge=True))


def _unknown_section(env: Mapping[str, str]) -> str | None:
    """A ``CRATE_X__…`` variable whose section X does not exist (pydantic-settings would pass it over)."""
    for name in env:
        if name.upper().startswith(ENV_PREFIX) and ENV_NESTED in name:
            section = name[len(ENV_PREFIX):].split(ENV_NESTED)[0].lower()
            if section not in Config.model_fields:
                return f"environment variable {name}: unknown configuration key {section!r} (see configs/default.yaml)"
    return None


def _explained(exc: ValidationError, env: Mapping[str, str], extra: str | None) -> ConfigError:
    """The first error, naming the key and where it came from."""
    err = exc.errors()[0]
    loc = [str(x) for x in err["loc"] if not str(x).startswith(("function-", "float", "str"))]
    dotted = ".".join(loc)
    var = ENV_PREFIX + ENV_NESTED.join(loc).upper()
    where = (f"environment variable {var}" if any(n.upper() == var for n in env)
             else extra or str(DEFAULT_CONFIG))
    if err["type"] == "extra_forbidden":
        return ConfigError(f"{where}: unknown configuration key {dotted!r} (see configs/default.yaml)")
    if err["type"] == "missing":
        return ConfigError(f"{where}: missing configuration key {dotted!r}")
    return ConfigError(f"{where}: {dotted}: {err['msg']} (got {err.get('input')!r})")


def load_config(env: Mapping[str, str] | None = None, path: Path | None = None) -> Config:
    """The defaults, the ``CRATE_CONFIG`` file over them, the environment over both."""
    env = dict(os.environ) if env is None else env
    files = [Path(path or DEFAULT_CONFIG)]
    extra = env.get("CRATE_CONFIG")
    if extra:
        files.append(Path(extra))
        with open(extra, encoding="utf-8") as fh:
            if not isinstance(yaml.safe_load(fh) or {}, dict):
                raise ConfigError(f"{extra}: a configuration file is a mapping of sections")
    unknown = _unknown_section(env)
    if unknown:
        raise ConfigError(unknown)
    token = _LOADING.set((env, files))
    try:
        return Settings()   # type: ignore[call-arg]  # every value comes from the sources
    except ValidationError as exc:
        raise _explained(exc, env, extra) from None
    finally:
        _LOADING.reset(token)


def section(kind: type[S], data: S | Mapping[str, Any]) -> S:
    """``data`` as the typed section ``kind`` (a section as it is; a mapping — a test's variation — checked)."""
    if isinstance(data, kind):
        return data
    plain = {k: (v.model_dump() if isinstance(v, Section) else v) for k, v in dict(data).items()}
    try:
        return kind.model_validate(plain)
    except ValidationError as exc:
        raise _explained(exc, {}, kind.__name__) from None


def as_config(cfg: Config | Mapping[str, Any]) -> Config:
    """``cfg`` as a :class:`Config` (a dict of sections or of plain mappings is checked and converted)."""
    return section(Config, cfg)


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process's configuration, loaded once (``get_config.cache_clear()`` reloads it)."""
    return load_config()


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
