"""Config loading: good files load, bad ones fail with the bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, RunConfig, load_config, parse_config, with_overrides

REPO = Path(__file__).resolve().parents[1]


def test_shipped_feeds_config_loads() -> None:
    cfg = load_config(REPO / "configs" / "feeds.yaml")
    names = {f.name for f in cfg.feeds}
    assert {"tagesschau", "n-tv", "DER SPIEGEL", "ZEIT ONLINE", "BBC News", "The Guardian", "NPR"} <= names
    assert {f.language for f in cfg.feeds} == {"de", "en"}
    assert cfg.fetch.per_host == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"feeds": [{"url": "ftp://x"}]}, "feeds.0.url: feed url must start with http"),
        ({"feeds": [{"url": "https://x", "language": "German"}]}, "language must be an ISO 639-1 code"),
        ({"feeds": [{"url": "https://x", "topic": "poltics"}]}, "topic must be an IPTC code"),
        ({"feeds": [{"url": "https://x", "lang": "de"}]}, "feeds.0.lang: unknown key 'lang' (did you mean 'language'?)"),
        ({"feeds": [{"ulr": "https://x"}]}, "feeds.0.ulr: unknown key 'ulr' (did you mean 'url'?)"),
        ({"fetch": {"per_host": 0}}, "fetch.per_host: Input should be greater than 0"),
        ({"extract": {"min_chars": -3}}, "extract.min_chars: Input should be greater than 0"),
        (["a"], "expected a mapping"),
    ],
)
def test_bad_config_names_the_value(data, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "x.yaml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_overrides_add_feeds_and_switches() -> None:
    base = parse_config({"feeds": [{"url": "https://a.example/feed"}]})
    cfg = with_overrides(base, ["https://b.example/rss", "https://a.example/feed"], True, "/models/x")
    assert [f.url for f in cfg.feeds] == ["https://a.example/feed", "https://b.example/rss"]
    assert cfg.fetch.http.allow_private_hosts and cfg.feed_fetch.allow_private_hosts
    assert cfg.topic.model == "/models/x"
    assert not base.fetch.http.allow_private_hosts  # frozen: the original is unchanged


def test_no_feeds_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no feeds"):
        with_overrides(RunConfig(), [], False)
    with pytest.raises(ConfigError, match="--feed"):
        with_overrides(RunConfig(), ["not-a-url"], False)
