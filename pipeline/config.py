"""Run configuration: the YAML file, validated at load, plus what the command line adds.

Every section is a frozen pydantic model with ``extra="forbid"``, so a typo in a key is an error
with the key's name instead of a silently ignored setting. Beam runner flags are not here: they
stay Beam ``PipelineOptions``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from transforms.extract import ExtractConfig
from transforms.fetch import FetchConfig
from transforms.http import HttpConfig
from transforms.records import FeedSpec

_TOPIC_CODE = re.compile(r"^medtop:\d{8}$")
_LANG_CODE = re.compile(r"^[a-z]{2}$")


class ConfigError(ValueError):
    """A configuration that cannot be run; the message is one line naming the bad value."""


class FeedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    name: str = ""
    language: str | None = None
    topic: str | None = None
    tags: tuple[str, ...] = ()  # e.g. the folders and categories of an OPML outline

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"feed url must start with http:// or https://, got {value!r}")
        return value

    @field_validator("language")
    @classmethod
    def _iso_639_1(cls, value: str | None) -> str | None:
        if value is not None and not _LANG_CODE.match(value):
            raise ValueError(f"language must be an ISO 639-1 code like 'de', got {value!r}")
        return value

    @field_validator("topic")
    @classmethod
    def _iptc(cls, value: str | None) -> str | None:
        if value is not None and not _TOPIC_CODE.match(value):
            raise ValueError(f"topic must be an IPTC code like 'medtop:11000000', got {value!r}")
        return value

    def to_spec(self) -> FeedSpec:
        return FeedSpec(url=self.url, name=self.name, language=self.language, topic=self.topic)


class CleanConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: str | None = None  # path to a rule file; None = the shipped configs/clean_rules.yaml


class TopicConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None  # model directory; None = the shipped default model


class StateConfig(BaseModel):
    """How runs use what earlier runs left in the output directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Conditional GET only while the last full fetch of a feed is younger than this.
    full_fetch_hours: float = Field(default=24.0, gt=0)
    # After this many failed runs in a row a feed is skipped for 1, 2, 4 … days (0: never).
    backoff_after_failures: int = Field(default=3, ge=0)
    backoff_max_days: int = Field(default=7, ge=1)


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    feeds: tuple[FeedConfig, ...] = ()
    feed_fetch: HttpConfig = Field(default_factory=lambda: HttpConfig(max_bytes=20 * 1024 * 1024))
    fetch: FetchConfig = FetchConfig()
    extract: ExtractConfig = ExtractConfig()
    clean: CleanConfig = CleanConfig()
    topic: TopicConfig = TopicConfig()
    state: StateConfig = StateConfig()
    # Exit with status 5 when more than this share of feeds, or of entries, failed.
    max_failure_rate: float = Field(default=0.5, ge=0, le=1)
    # OPML files or URLs whose feeds are added to ``feeds`` (pipeline.feedlists.with_opml).
    opml: tuple[str, ...] = ()

    @field_validator("opml", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    message = err["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" + (f" (got {err['input']!r})" if err["type"] == "extra_forbidden" else "")


def parse_config(data: Any, origin: str = "config") -> RunConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_first_error(exc)}") from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    cfg = parse_config(data, str(path))
    if cfg.opml:
        # OPML files named in a config are found beside it, wherever the run starts.
        here = Path(path).parent
        opml = tuple(
            s if s.startswith(("http://", "https://")) or Path(s).is_absolute() else str(here / s)
            for s in cfg.opml
        )
        cfg = cfg.model_copy(update={"opml": opml})
    return cfg


def with_overrides(
    cfg: RunConfig,
    extra_feeds: list[str],
    allow_private_hosts: bool,
    model: str | None = None,
    max_failure_rate: float | None = None,
) -> RunConfig:
    """The config a run uses: file feeds plus ``--feed`` URLs, and the command-line switches."""
    feeds = list(cfg.feeds)
    known = {f.url for f in feeds}
    for url in extra_feeds:
        if url not in known:
            try:
                feeds.append(FeedConfig(url=url))
            except ValidationError as exc:
                raise ConfigError(f"--feed: {_first_error(exc)}") from None
            known.add(url)
    if not feeds:
        raise ConfigError("no feeds: give --feed URL, --opml FILE or a --config file with feeds")
    fetch = cfg.fetch
    feed_fetch = cfg.feed_fetch
    if allow_private_hosts:
        fetch = fetch.model_copy(update={"http": fetch.http.model_copy(update={"allow_private_hosts": True})})
        feed_fetch = feed_fetch.model_copy(update={"allow_private_hosts": True})
    topic = cfg.topic if model is None else TopicConfig(model=model)
    update = {"feeds": tuple(feeds), "fetch": fetch, "feed_fetch": feed_fetch, "topic": topic}
    if max_failure_rate is not None:
        if not 0 <= max_failure_rate <= 1:
            raise ConfigError(f"--max-failure-rate must be between 0 and 1, got {max_failure_rate}")
        update["max_failure_rate"] = max_failure_rate
    return cfg.model_copy(update=update)
