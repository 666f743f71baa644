"""Run configuration: the YAML file, validated at load, plus what the command line adds.

Every section is a frozen pydantic model with ``extra="forbid"``, so a typo in a key is an error
with the key's name instead of a silently ignored setting. Beam runner flags are not here: they
stay Beam ``PipelineOptions``.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from transforms.text.extract import ExtractConfig
from transforms.fetching.fetch import FetchConfig
from transforms.fetching.http import HttpConfig
from transforms.records import FeedSpec

_TOPIC_CODE = re.compile(r"^medtop:\d{8}$")
_LANG_CODE = re.compile(r"^[a-z]{2}$")


class ConfigError(ValueError):
    """A configuration that cannot be run; the message is one line naming the bad value.

    ``errors`` holds every problem found (one line each, with its YAML line when known); the
    message is the first of them, and says how many more there are.
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        self.errors = errors or [message]
        more = len(self.errors) - 1
        if more:
            message += f" (and {more} more; `newsbeam validate-config` lists them all)"
        super().__init__(message)


@functools.cache
def iptc_labels() -> dict[str, str]:
    """IPTC top-level code → English label, from the shipped taxonomy."""
    taxonomy = importlib.resources.files("configs").joinpath("iptc_topics.json").read_text(encoding="utf-8")
    return {t["code"]: t["label"] for t in json.loads(taxonomy)["topics"]}


def _short_labels() -> dict[str, str]:
    """Each label's first word ("economy" for "economy, business and finance") → its code."""
    heads: dict[str, list[str]] = {}
    for code, label in iptc_labels().items():
        heads.setdefault(re.split(r"[ ,]", label, maxsplit=1)[0], []).append(code)
    return {head: codes[0] for head, codes in heads.items() if len(codes) == 1}


def topic_code(value: str) -> str | None:
    """The IPTC code for a code, a label ("sport") or a label's first word ("economy"); else None."""
    folded = value.strip().lower()
    labels = iptc_labels()
    if folded in labels:
        return folded
    by_label = {label: code for code, label in labels.items()}
    return by_label.get(folded) or _short_labels().get(folded)


def topic_suggestion(value: str) -> str:
    """" (did you mean 'sport'?)" for a near miss of an IPTC label, else ""."""
    names = [*iptc_labels().values(), *_short_labels()]
    close = difflib.get_close_matches(value.strip().lower(), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
        if value is None:
            return None
        code = topic_code(value)
        if code is None or not _TOPIC_CODE.match(code):
            raise ValueError(f"topic must be an IPTC code like 'medtop:11000000' or its label like "
                             f"'politics', got {value!r}{topic_suggestion(value)}")
        return code

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
    # Keep every fetched answer as WARC under raw/date=…/ (newsbeam reprocess reads it back).
    archive: bool = False

    @field_validator("opml", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config model found at ``loc`` (field names and list indices) under RunConfig."""
    model: Any = RunConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        kinds = [field.annotation, *typing.get_args(field.annotation)]
        model = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _yaml_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Path of every key and list item in a YAML text → its 1-based line."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    except yaml.YAMLError:
        pass
    return lines


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _errors(exc: ValidationError, origin: str | None = None, lines: dict | None = None) -> list[str]:
    """Every problem of a validation error, one line each: a misspelled key is named as unknown
    with the key it probably means (and the "Field required" it causes is left out)."""
    errors = exc.errors()
    meant: set[tuple[Any, ...]] = set()
    found: list[tuple[tuple[Any, ...], str]] = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            names = list(model.model_fields) if model else []
            close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else (f" (known keys: {', '.join(names)})" if names else "")
            if close:
                meant.add((*loc[:-1], close[0]))
            found.append((loc, f"unknown key {loc[-1]!r}{hint}"))
        else:
            # Lists are tuples in the models (they are frozen); YAML writes them as lists.
            found.append((loc, err["msg"].removeprefix("Value error, ").replace("a valid tuple", "a list")))
    out = []
    for loc, message in found:
        if loc in meant and any(e["type"] == "missing" and tuple(e["loc"]) == loc for e in errors):
            continue
        where = ".".join(str(p) for p in loc) or "config"
        line = _line_of(loc, lines or {})
        prefix = f"{origin}:{line}: " if origin and line else (f"{origin}: " if origin else "")
        out.append(f"{prefix}{where}: {message}")
    return out


def _first_error(exc: ValidationError) -> str:
    return _errors(exc)[0]


def parse_config(data: Any, origin: str = "config", text: str | None = None) -> RunConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        errors = _errors(exc, origin, _yaml_lines(text) if text else None)
        raise ConfigError(errors[0], errors) from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config {path}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from None
    cfg = parse_config(data, str(path), text)
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
