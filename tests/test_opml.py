"""OPML in and out: parsing, writing, --opml and opml: in the config, and the round trip
discover → OPML → run --opml over loopback sites."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from pipeline.cli import EXIT_CONFIG, EXIT_OK, main
from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.feedlists import with_opml
from tests import discover_sites as sites
from tests.discover_sites import SiteServer
from transforms.sources.opml import OpmlError, OpmlFeed, parse_opml, write_opml

REPO = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 11, 24, 12, tzinfo=dt.timezone.utc)

READER_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="News" title="News">
      <outline text="Tagesschau" type="rss" xmlUrl="https://www.tagesschau.de/xml/rss2/"
               htmlUrl="https://www.tagesschau.de/" language="de-DE"/>
      <outline text="Sport">
        <outline type="rss" text="kicker" xmlurl="https://newsfeed.kicker.de/news/aktuell"
                 category="/Fussball/Bundesliga,weekend"/>
      </outline>
    </outline>
    <outline type="rss" title="BBC" text="BBC News" xmlUrl="https://feeds.bbci.co.uk/news/rss.xml"/>
    <outline type="rss" text="again" xmlUrl="https://www.tagesschau.de/xml/rss2/"/>
    <outline type="link" text="A web page" url="https://example.org/"/>
  </body>
</opml>"""


def test_parse_nested_outlines_titles_and_categories() -> None:
    assert parse_opml(READER_EXPORT) == [
        OpmlFeed(
            "https://www.tagesschau.de/xml/rss2/",
            "Tagesschau",
            ("News",),
            "https://www.tagesschau.de/",
            "de",
        ),
        OpmlFeed(
            "https://newsfeed.kicker.de/news/aktuell",
            "kicker",
            ("News", "Sport", "Fussball", "Bundesliga", "weekend"),
        ),
        OpmlFeed("https://feeds.bbci.co.uk/news/rss.xml", "BBC"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty file"),
        (b"<opml><body><outline", "not well-formed XML"),
        (b"<rss version='2.0'><channel/></rss>", "root element is <rss>, not <opml>"),
        (b"<opml version='2.0'><head/></opml>", "no <body> element"),
        (b"<opml><body><outline xmlUrl='file:///etc/passwd'/></body></opml>", "http(s) URL"),
        (
            (
                b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<opml><body><outline text='&x;'/></body></opml>"
            ),
            "external_entity",
        ),
    ],
)
def test_broken_opml_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=None) as info:
        parse_opml(body)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_write_then_parse_keeps_everything() -> None:
    feeds = [
        OpmlFeed(
            "https://a.example/feed/",
            "A & B <news>",
            ("Politik", "de-desk"),
            "https://a.example/",
            "de",
        ),
        OpmlFeed("https://b.example/rss", "B", ("Politik",)),
        OpmlFeed("https://c.example/atom.xml", "", ()),
    ]
    body = write_opml(feeds, "mine", NOW)
    assert b'<opml version="2.0">' in body and b"<dateCreated>Tue, 24 Nov 2026 12:00:00 GMT" in body
    back = parse_opml(body)
    assert back[:2] == feeds[:2]
    assert back[2] == OpmlFeed("https://c.example/atom.xml", "https://c.example/atom.xml")


def test_opml_in_the_config_is_read_beside_it(tmp_path: Path) -> None:
    (tmp_path / "subs.opml").write_bytes(READER_EXPORT)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "feeds:\n  - url: https://feeds.bbci.co.uk/news/rss.xml\n    name: BBC first\nopml: subs.opml\n"
    )
    cfg = with_opml(load_config(config), [])
    assert [(f.url, f.name, f.language, f.tags) for f in cfg.feeds] == [
        ("https://feeds.bbci.co.uk/news/rss.xml", "BBC first", None, ()),
        ("https://www.tagesschau.de/xml/rss2/", "Tagesschau", "de", ("News",)),
        (
            "https://newsfeed.kicker.de/news/aktuell",
            "kicker",
            None,
            ("News", "Sport", "Fussball", "Bundesliga", "weekend"),
        ),
    ]


def test_with_opml_broken_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body>")
    with pytest.raises(ConfigError, match="bad.opml: not a usable OPML file: not well-formed"):
        with_opml(RunConfig(), [str(bad)])
    with pytest.raises(ConfigError, match="cannot read OPML file"):
        with_opml(RunConfig(), [str(tmp_path / "missing.opml")])


def test_run_with_broken_opml_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<html><body>not a list</body></html>")
    code = main(["run", "--opml", str(bad), "--output", str(tmp_path / "out")])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert (
        err == f"newsbeam: error: {bad}: not a usable OPML file: root element is <html>, not <opml>"
    )
    assert not (tmp_path / "out").exists()


def test_export_feeds_of_the_shipped_config(tmp_path: Path, capsys) -> None:
    out = tmp_path / "feeds.opml"
    assert (
        main(["export-feeds", "--config", str(REPO / "configs" / "feeds.yaml"), "--out", str(out)])
        == EXIT_OK
    )
    shipped = load_config(REPO / "configs" / "feeds.yaml")
    exported = parse_opml(out.read_bytes())
    assert [(f.url, f.title, f.language) for f in exported] == [
        (f.url, f.name, f.language) for f in shipped.feeds
    ]
    assert len(exported) == 11


def test_export_feeds_opml_to_yaml_config(tmp_path: Path, capsys) -> None:
    subs = tmp_path / "subs.opml"
    subs.write_bytes(READER_EXPORT)
    assert main(["export-feeds", "--opml", str(subs), "--format", "yaml"]) == EXIT_OK
    config = tmp_path / "feeds.yaml"
    config.write_text(capsys.readouterr().out)
    cfg = load_config(config)
    assert [f.url for f in cfg.feeds] == [f.url for f in parse_opml(READER_EXPORT)]
    assert cfg.feeds[1].tags == ("News", "Sport", "Fussball", "Bundesliga", "weekend")


def test_opml_url_is_fetched_with_the_ssrf_rules(tmp_path: Path) -> None:
    routes = {"/subs.opml": (200, "text/x-opml", READER_EXPORT.decode())}
    with SiteServer(routes) as server:
        with pytest.raises(ConfigError, match="pass --allow-private-hosts"):
            with_opml(RunConfig(), [server.url("/subs.opml")])
        cfg = with_opml(RunConfig(), [server.url("/subs.opml")], allow_private_hosts=True)
    assert len(cfg.feeds) == 3


def test_round_trip_discover_opml_run_reads_every_feed(tmp_path: Path, capsys) -> None:
    """discover → OPML → run --opml: every discovered feed (RSS, Atom, JSON Feed, a /feed/ found
    at a common location, a news sitemap) is read by the run and its articles are written."""
    opml = tmp_path / "found.opml"
    out = tmp_path / "out"
    with (
        SiteServer(sites.LINK_TAGS) as a,
        SiteServer(sites.WORDPRESS) as b,
        SiteServer(sites.NEWS_SITEMAP_ONLY) as c,
    ):
        code = main(
            [
                "discover",
                a.url(),
                b.url(),
                c.url(),
                "--allow-private-hosts",
                "--delay",
                "0",
                "--format",
                "opml",
                "--out",
                str(opml),
            ]
        )
        assert code == EXIT_OK
        discovered = [f.url for f in parse_opml(opml.read_bytes())]
        assert discovered == [
            a.url("/news.rss"),
            a.url("/sport.atom"),
            a.url("/feed.json"),
            b.url("/feed/"),
            c.url("/sitemaps/news.xml"),
        ]
        code = main(
            [
                "run",
                "--opml",
                str(opml),
                "--output",
                str(out),
                "--date",
                "2026-11-24",
                "--allow-private-hosts",
                "--quiet",
            ]
        )
    assert code == EXIT_OK
    (manifest,) = [
        json.loads(p.read_text()) for p in (out / "_runs" / "date=2026-11-24").glob("*.json")
    ]
    assert manifest["feeds"]["ok"] == 5 and manifest["feeds"]["failed"] == []
    rows = (
        pads.dataset(out / "articles", format="parquet", partitioning="hive").to_table().to_pylist()
    )
    assert sorted({r["feed_url"] for r in rows}) == sorted(discovered)
    assert len(rows) == 10  # two articles per feed


def test_stream_with_broken_opml_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml version='2.0'><head/></opml>")
    code = main(
        ["stream", "--opml", str(bad), "--output", str(tmp_path / "out"), "--duration", "1"]
    )
    assert code == EXIT_CONFIG
    assert capsys.readouterr().err.strip().endswith("not a usable OPML file: no <body> element")


def test_validate_config_counts_the_feeds_of_its_opml(tmp_path: Path, capsys) -> None:
    (tmp_path / "subs.opml").write_bytes(READER_EXPORT)
    config = tmp_path / "feeds.yaml"
    config.write_text("opml: [subs.opml]\n")
    assert main(["validate-config", str(config)]) == EXIT_OK
    assert "ok — 3 feeds (de;" in capsys.readouterr().out
    (tmp_path / "subs.opml").write_text("<opml><body><outline xmlUrl='ftp://x/'/></body></opml>")
    assert main(["validate-config", str(config)]) == EXIT_CONFIG
    assert "xmlUrl must be an http(s) URL" in capsys.readouterr().err
