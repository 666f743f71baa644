"""Feed discovery: the pure decisions, then whole sites of different shapes over loopback."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time

import pytest
import yaml

from pipeline.cli import EXIT_NO_FEEDS, EXIT_OK, main
from pipeline.config import parse_config
from tests import discover_sites as sites
from tests.discover_sites import SiteServer
from tests.faultserver import loopback_only_fixture  # noqa: F401 - a fixture
from transforms.sources.discover import (
    Candidate,
    DiscoverConfig,
    comments_reason,
    common_locations,
    describe_attempts,
    discover,
    discover_site,
    evaluate,
    feed_kind,
    feed_links,
    looks_like_html,
    robots_sitemaps,
)
from transforms.fetching.http import HttpConfig, make_client
from transforms.sources.opml import parse_opml
from transforms.fetching.politeness import HostThrottle
from transforms.records import UTC

NOW = dt.datetime(2026, 11, 24, 12, tzinfo=UTC)
RSS_TYPE = sites.RSS


# A plain sitemap that declares the news namespace without using it, as SEO plugins do.
PLAIN_SITEMAP = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/'
    'sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
    "<url><loc>{base}/article/one</loc><lastmod>2026-11-24</lastmod></url></urlset>"
)


def cfg(**kw) -> DiscoverConfig:
    http = HttpConfig(allow_private_hosts=True, retries=0, total_timeout=kw.pop("timeout", 5.0))
    return DiscoverConfig(http=http, per_host_delay=0, **kw)


def run_site(routes, hold=frozenset(), **kw):
    with SiteServer(routes, hold) as server:
        (report,) = discover([server.url("/")], cfg(**kw))
        requests = list(server.requests)
        base = server.base
    found = [
        (f.url.removeprefix(base), f.kind, f.title, f.language, f.entries) for f in report.feeds
    ]
    rejected = {r.url.removeprefix(base): r.reason.replace(base, "") for r in report.rejected}
    return report, found, rejected, requests


# --- pure functions ------------------------------------------------------------------------------


def test_feed_links_reads_link_tags_and_feed_like_anchors() -> None:
    html = b"""<html><head><base href="https://example.org/news/">
    <link rel="alternate" type="application/rss+xml" title="Top" href="top.rss">
    <link rel="Alternate" type="application/atom+xml; charset=utf-8" href="/all.atom">
    <link rel="alternate" type="application/json+oembed" href="/oembed?url=x">
    <link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">
    <link rel="alternate" type="application/feed+json" href="/feed.json">
    <link rel="alternate" hreflang="de" href="/de/">
    <link rel="stylesheet" type="text/css" href="/s.css">
    </head><body>
    <a href="/top.rss">RSS</a><a href="/rss/politics">Politics</a><a href="/about">About</a>
    <a href="https://feedly.com/i/subscription/feed/https://example.org/top.rss">Feedly</a>
    <a href="mailto:desk@example.org">RSS</a><a href="/podcast">Feed</a>
    <a href="/index.php?type=100">Typo3</a><a href="/feedback">Feedback</a>
    </body></html>"""
    tags, anchors = feed_links(html, "https://example.org/")
    assert [(c.url, c.hint) for c in tags] == [
        ("https://example.org/news/top.rss", "Top"),
        ("https://example.org/all.atom", ""),
        ("https://example.org/feed.json", ""),
    ]
    assert [c.url for c in anchors] == [
        "https://example.org/top.rss",
        "https://example.org/rss/politics",
        "https://example.org/podcast",
        "https://example.org/index.php?type=100",
    ]


def test_feed_links_of_garbage_is_empty() -> None:
    assert feed_links(b"", "https://example.org/") == ([], [])
    assert feed_links(b"\x00\x01 not html", "https://example.org/") == ([], [])


def test_robots_sitemaps_news_first_relative_resolved() -> None:
    text = (
        "User-agent: *\nDisallow: /x\nSitemap: https://e.org/sitemap.xml\n"
        "sitemap:/sitemaps/news.xml\nSITEMAP: https://e.org/sitemap.xml\n"
    )
    assert robots_sitemaps(text, "https://e.org/robots.txt") == [
        "https://e.org/sitemaps/news.xml",
        "https://e.org/sitemap.xml",
    ]


def test_common_locations_below_a_section_first() -> None:
    root = common_locations("https://e.org/")
    assert root[:3] == ["https://e.org/feed/", "https://e.org/feed", "https://e.org/rss"]
    assert "https://e.org/?type=100" in root and "https://e.org/sitemap_news.xml" in root
    section = common_locations("https://e.org/blog/post.html")
    assert section[:2] == ["https://e.org/blog/feed/", "https://e.org/blog/rss.xml"]
    assert set(root) < set(section)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (sites.rss("x", ["a"]).encode(), "rss"),
        (sites.atom("x", ["a"]).encode(), "atom"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "json"),
        (sites.news_sitemap("x", ["a"]).encode(), "news-sitemap"),
        (PLAIN_SITEMAP.encode(), "sitemap"),
        (sites.sitemap_index(["/a.xml"]).encode(), "sitemap-index"),
        (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x"></rdf:RDF>', "rss"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", ""),
    ],
)
def test_feed_kind(body: bytes, kind: str) -> None:
    assert feed_kind(body) == kind


def test_looks_like_html() -> None:
    assert looks_like_html(b"\n<!doctype HTML><html><head>")
    assert looks_like_html(b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">')
    assert not looks_like_html(sites.rss("x", ["a"]).encode())
    # An RSS feed whose items carry escaped HTML is still a feed.
    assert not looks_like_html(b'<rss version="2.0"><channel><description><html>x')


@pytest.mark.parametrize(
    ("url", "hint", "title", "links", "reason"),
    [
        ("https://b.org/comments/feed/", "", "Blog", ["https://b.org/p"], "its URL names comments"),
        ("https://b.org/?feed=comments-rss2", "", "Blog", [], "its URL names comments"),
        ("https://b.org/feeds/comments/default", "", "", [], "its URL names comments"),
        ("https://b.org/x.xml", "Blog » Comments Feed", "", [], "its title names comments"),
        ("https://b.org/x.xml", "", "Kommentare zu: Artikel", [], "its title names comments"),
        (
            "https://b.org/x.xml",
            "",
            "",
            ["https://b.org/p#comment-3", "https://b.org/q#comment-4"],
            "its entries link to comments",
        ),
        (
            "https://n.org/2024/post/feed/",
            "n.org » Hilfe! Kommentar-Feed",
            "",
            [],
            "its title names comments",
        ),
        ("https://k.id/x/", "Kabar » Umpan Komentar", "", [], "its title names comments"),
        ("https://r.it/x/", "Remember » Feed dei commenti", "", [], "its title names comments"),
        ("https://b.org/feed/", "Blog » Feed", "Blog", ["https://b.org/p"], ""),
        ("https://z.de/kommentare/index", "Kommentare", "ZEIT Kommentare", [], ""),
        ("https://t.co.uk/comment/rss", "Comment", "Telegraph Comment", [], ""),
        ("https://b.org/commentary/feed/", "Commentary", "Commentary", ["https://b.org/p"], ""),
    ],
)
def test_comments_reason(url, hint, title, links, reason) -> None:
    assert comments_reason(url, hint, title, links) == reason


def test_evaluate_uses_the_feed_stage_parser() -> None:
    c = Candidate("https://e.org/feed", "common")
    body = sites.rss("Daily", ["a", "b?utm_medium=rss"]).replace("{base}", "https://www.e.org")
    found = evaluate(c, body.encode(), {}, NOW)
    assert (found.kind, found.title, found.language, found.entries) == ("rss", "Daily", "en", 2)
    # Entries are compared as the run identifies articles: no scheme, www. or tracking tags.
    assert found.links == {"e.org/article/a", "e.org/article/b"}
    assert evaluate(c, b"<html><body>x</body></html>", {}, NOW).reason == "an HTML page, not a feed"
    no_links = (
        b'<rss version="2.0"><channel><title>T</title><item><title>x</title></item></channel></rss>'
    )
    assert evaluate(c, no_links, {}, NOW).reason == "no entries with links"
    assert evaluate(c, b"garbage", {}, NOW).reason.startswith("not a feed")


# --- sites over loopback ------------------------------------------------------------------------


def test_link_tags_rss_and_atom(loopback_only) -> None:
    report, found, _rejected, requests = run_site(sites.LINK_TAGS)
    assert found == [
        ("/news.rss", "rss", "Harbour News", "en", 2),
        ("/sport.atom", "atom", "Harbour Sport", "de", 2),
        ("/feed.json", "json", "Harbour JSON", "en", 2),
    ]
    # The cheapest source answered: no common location was tried.
    assert requests == ["/robots.txt", "/", "/news.rss", "/sport.atom", "/feed.json"]
    assert report.requests == 5 and report.stopped == ""


def test_wordpress_site_with_only_feed_slash() -> None:
    _report, found, _rejected, requests = run_site(sites.WORDPRESS)
    assert found == [("/feed/", "rss", "Just Another Blog", "en", 2)]
    assert requests == ["/robots.txt", "/", "/feed/"]  # stops at the first common hit


def test_only_a_news_sitemap_named_in_robots_txt() -> None:
    _report, found, _rejected, requests = run_site(sites.NEWS_SITEMAP_ONLY)
    assert found == [("/sitemaps/news.xml", "news-sitemap", "Port Ellery Post", "en", 2)]
    assert requests == ["/robots.txt", "/", "/sitemaps/index.xml", "/sitemaps/news.xml"]


def test_plain_sitemap_only_when_nothing_better() -> None:
    routes = {
        "/": (200, sites.HTML, sites.page()),
        "/robots.txt": (200, sites.TEXT, "Sitemap: {base}/sitemap.xml\n"),
        "/sitemap.xml": (200, sites.XML, sites.sitemap_index(["/sitemap-1.xml"])),
        "/sitemap-1.xml": (200, sites.XML, PLAIN_SITEMAP),
    }
    _report, found, _rejected, requests = run_site(routes)
    # The index is what the run reads (it follows an index to its first sitemaps).
    assert found == [("/sitemap.xml", "sitemap", "", None, 1)]
    assert requests[:4] == ["/robots.txt", "/", "/sitemap.xml", "/sitemap-1.xml"]
    assert "/feed/" in requests  # a plain sitemap is no feed: common locations were tried


def test_fake_feed_link_serving_html() -> None:
    _report, found, rejected, _requests = run_site(sites.FAKE_FEED)
    assert found == [("/real.xml", "rss", "Real Feed", "en", 2)]
    assert rejected == {
        "/rss-page": "an HTML page, not a feed",
        "/rss-info.html": "an HTML page, not a feed",
    }


def test_comments_feed_left_out_unless_asked_for() -> None:
    _report, found, rejected, _ = run_site(sites.COMMENTS)
    assert [f[0] for f in found] == ["/feed/"]
    assert rejected == {"/comments/feed/": "a comments feed"}
    report, found, _, _ = run_site(sites.COMMENTS, include_comments=True)
    assert [f[0] for f in found] == ["/feed/", "/comments/feed/"]
    assert [f.comments for f in report.feeds] == [False, True]


def test_two_urls_serving_the_same_feed_listed_once() -> None:
    _report, found, rejected, _ = run_site(sites.SAME_FEED)
    assert found == [("/feed.rss", "rss", "Daily", "en", 3)]
    assert rejected == {
        "/feed.atom": "same entries as /feed.rss",
        "/legacy/rss.xml": "same entries as /feed.rss",
    }


def test_site_with_nothing_names_what_was_tried() -> None:
    report, found, _, requests = run_site(sites.NOTHING)
    assert found == []
    assert len(requests) == report.requests == 16  # robots.txt, homepage, 14 common locations
    line = describe_attempts(report)
    assert "\n" not in line
    assert "homepage: 0 <link> feeds, 0 <a> feed links" in line
    assert "common locations 14 (/feed/, /feed, /rss, /rss.xml, …)" in line


def test_max_requests_bounds_a_site() -> None:
    report, _, _, requests = run_site(sites.NOTHING, max_requests=5)
    assert len(requests) == report.requests == 5
    assert report.stopped == "--max-requests 5 reached"


def test_slow_site_is_bounded_by_the_timeout() -> None:
    """Every path of the site holds its answer until the server closes; with a 0.2 s timeout
    discovery gives up on the host after two timeouts instead of waiting or trying 16 paths."""
    started = time.monotonic()
    report, found, _, requests = run_site(sites.SLOW, sites.SLOW_HOLD, timeout=0.2)
    elapsed = time.monotonic() - started
    assert found == []
    assert requests == ["/robots.txt", "/"]
    assert report.stopped.endswith("is not answering (timeout, timeout)")
    assert elapsed < 30  # the server would hold for 60 s


def test_robots_txt_is_honoured() -> None:
    routes = dict(sites.LINK_TAGS)
    routes["/robots.txt"] = (200, sites.TEXT, "User-agent: newsbeam\nDisallow: /news.rss\n")
    _report, found, rejected, requests = run_site(routes)
    assert [f[0] for f in found] == ["/sport.atom", "/feed.json"]
    assert rejected == {"/news.rss": "robots_disallowed"}
    assert "/news.rss" not in requests


def test_requests_to_a_host_are_spaced() -> None:
    waits: list[float] = []
    throttle = HostThrottle(clock=lambda: 100.0, sleep=waits.append)
    with SiteServer(sites.LINK_TAGS) as server:
        config = cfg().model_copy(update={"per_host_delay": 0.25})
        client = make_client(config.http)
        try:
            report = discover_site(server.url("/"), config, client, throttle)
        finally:
            client.close()
    assert report.requests == 5
    # The clock stands still, so every request after the first waits one more delay.
    assert waits == [0.25, 0.5, 0.75, 1.0]


def test_private_hosts_refused_without_the_flag() -> None:
    with SiteServer(sites.LINK_TAGS) as server:
        strict = DiscoverConfig(per_host_delay=0)
        (report,) = discover([server.url("/")], strict)
        assert server.requests == []
    assert report.feeds == []
    assert "pass --allow-private-hosts" in report.stopped


# --- the command ------------------------------------------------------------------------------


def test_discover_command_prints_config_entries_run_can_read(capsys) -> None:
    with SiteServer(sites.LINK_TAGS) as a, SiteServer(sites.NOTHING) as b:
        code = main(["discover", a.url(), b.url(), "--allow-private-hosts", "--delay", "0"])
        base = a.base
    out, err = capsys.readouterr()
    assert code == EXIT_OK
    config = parse_config(yaml.safe_load(out))
    assert [(f.url, f.name, f.language) for f in config.feeds] == [
        (f"{base}/news.rss", "Harbour News", "en"),
        (f"{base}/sport.atom", "Harbour Sport", "de"),
        (f"{base}/feed.json", "Harbour JSON", "en"),
    ]
    assert '# rss, 2 entries, from <link rel="alternate">' in out
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"{base}/: 3 found in 5 requests")
    assert lines[1].startswith("newsbeam: nothing found at http://127.0.0.1:")
    assert len(lines) == 2


def test_discover_command_exit_3_when_no_site_gave_a_feed(capsys, tmp_path) -> None:
    out_file = tmp_path / "feeds.yaml"
    with SiteServer(sites.NOTHING) as a:
        code = main(
            [
                "discover",
                a.url(),
                "--allow-private-hosts",
                "--delay",
                "0",
                "--max-requests",
                "3",
                "--out",
                str(out_file),
            ]
        )
    assert code == EXIT_NO_FEEDS
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "stopped: --max-requests 3 reached" in err
    assert parse_config(yaml.safe_load(out_file.read_text())).feeds == ()


def test_discover_command_writes_opml(capsys, tmp_path) -> None:
    out_file = tmp_path / "feeds.opml"
    with SiteServer(sites.COMMENTS) as a:
        code = main(
            [
                "discover",
                a.url(),
                "--allow-private-hosts",
                "--delay",
                "0",
                "--format",
                "opml",
                "--out",
                str(out_file),
                "--include-comments",
            ]
        )
        base = a.base
    assert code == EXIT_OK
    feeds = parse_opml(out_file.read_bytes())
    assert [(f.url, f.title, f.html_url) for f in feeds] == [
        (f"{base}/feed/", "Blog", f"{base}/"),
        (f"{base}/comments/feed/", "Comments for Blog", f"{base}/"),
    ]


def test_discover_command_rejects_a_non_http_url(capsys) -> None:
    assert main(["discover", "example.org"]) == 2
    assert "must start with http://" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["discover", "export-feeds"])
def test_help_has_an_example(command: str, capsys) -> None:
    from pipeline.cli import build_parser

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert "example" in help_text.lower() and f"newsbeam {command}" in help_text


def test_gzipped_news_sitemap_is_found_and_read_by_the_feed_stage() -> None:
    from transforms.sources.feeds import parse_feed
    from transforms.records import FeedSpec

    def packed(base: str) -> bytes:
        return gzip.compress(
            sites.news_sitemap("Packed", ["a", "b"]).replace("{base}", base).encode()
        )

    routes = {
        "/": (200, sites.HTML, sites.page()),
        "/robots.txt": (200, sites.TEXT, "Sitemap: {base}/news.xml.gz\n"),
        "/news.xml.gz": (200, "application/x-gzip", packed),
    }
    _report, found, _, _ = run_site(routes)
    assert found == [("/news.xml.gz", "news-sitemap", "Packed", "en", 2)]
    entries, _, _ = parse_feed(packed("http://x"), {}, FeedSpec("http://x/news.xml.gz"), NOW)
    assert [e.link for e in entries] == ["http://x/article/a", "http://x/article/b"]


def test_gzip_bomb_is_not_a_feed() -> None:
    from transforms.sources.feeds import NotAFeedError, parse_feed
    from transforms.records import FeedSpec

    bomb = gzip.compress(b"<urlset>" + b" " * (60 * 1024 * 1024))
    assert len(bomb) < 100_000
    with pytest.raises(NotAFeedError, match="inflates beyond"):
        parse_feed(bomb, {}, FeedSpec("http://x/s.xml.gz"), NOW)


def test_homepage_redirecting_to_another_origin() -> None:
    with SiteServer(sites.LINK_TAGS) as target:
        routes = {"/": (301, sites.TEXT, target.url("/"))}
        with SiteServer(routes) as start:
            (report,) = discover([start.url("/")], cfg())
            asked_start, asked_target = list(start.requests), list(target.requests)
    assert [f.url for f in report.feeds] == [
        target.url("/news.rss"),
        target.url("/sport.atom"),
        target.url("/feed.json"),
    ]
    assert asked_start == ["/robots.txt", "/"]
    assert asked_target == ["/", "/robots.txt", "/news.rss", "/sport.atom", "/feed.json"]


def test_atom_copy_with_tracking_parameters_is_the_same_feed() -> None:
    routes = dict(sites.SAME_FEED)
    routes["/feed.atom"] = (
        200,
        sites.ATOM,
        sites.atom("Daily", ["story-a", "story-b", "story-c"]).replace(
            '"/>', '?utm_source=atom"/>'
        ),
    )
    _report, found, rejected, _ = run_site(routes)
    assert [f[0] for f in found] == ["/feed.rss"]
    assert rejected["/feed.atom"] == "same entries as /feed.rss"


def test_index_of_daily_news_sitemaps_is_listed_as_the_index() -> None:
    days = [
        "/news/2026-11-24.xml",
        "/news/2026-11-23.xml",
        "/news/2026-11-22.xml",
        "/news/2026-11-21.xml",
    ]
    routes = {
        "/": (200, sites.HTML, sites.page()),
        "/robots.txt": (200, sites.TEXT, "Sitemap: {base}/sitemap-news.xml\n"),
        "/sitemap-news.xml": (200, sites.XML, sites.sitemap_index(days)),
        days[0]: (200, sites.XML, sites.news_sitemap("Daily Post", ["today"])),
    }
    _report, found, _, requests = run_site(routes)
    # Not the file of one day, which goes stale tomorrow: the run follows the index.
    assert found == [("/sitemap-news.xml", "news-sitemap", "Daily Post", "en", 1)]
    assert requests == ["/robots.txt", "/", "/sitemap-news.xml", days[0]]


def test_a_feed_url_given_as_the_site_is_checked_in_one_request() -> None:
    with SiteServer(sites.LINK_TAGS) as server:
        (report,) = discover([server.url("/news.rss")], cfg())
        requests = list(server.requests)
    assert [(f.url, f.source) for f in report.feeds] == [(server.url("/news.rss"), "given")]
    assert requests == ["/robots.txt", "/news.rss"]


def test_same_site_twice_and_a_feed_shared_by_two_sites_are_listed_once(capsys) -> None:
    with SiteServer(sites.LINK_TAGS) as a:
        shared = {
            "/": (
                200,
                sites.HTML,
                sites.page(
                    f'<link rel="alternate" type="application/rss+xml" href="{a.url("/news.rss")}">'
                ),
            )
        }
        with SiteServer(shared) as b:
            assert (
                main(
                    ["discover", a.url(), b.url(), a.url(), "--allow-private-hosts", "--delay", "0"]
                )
                == EXIT_OK
            )
    config = parse_config(yaml.safe_load(capsys.readouterr().out))
    assert [f.url for f in config.feeds] == [
        a.url("/news.rss"),
        a.url("/sport.atom"),
        a.url("/feed.json"),
    ]


def test_feeds_listed_on_the_sites_rss_page() -> None:
    """The homepage only links to an overview page ("RSS" in the footer) that lists the feeds."""
    routes = {
        "/": (200, sites.HTML, sites.page(body='<footer><a href="/service/rss">RSS</a></footer>')),
        "/service/rss": (
            200,
            sites.HTML,
            sites.page(
                body=(
                    '<ul><li><a href="/inland/index~rss2.xml">Inland</a></li>'
                    '<li><a href="/sport/index~rss2.xml">Sport</a></li>'
                    '<li><a href="/impressum">Impressum</a></li></ul>'
                )
            ),
        ),
        "/inland/index~rss2.xml": (200, RSS_TYPE, sites.rss("Inland", ["i-1", "i-2"], "de")),
        "/sport/index~rss2.xml": (200, RSS_TYPE, sites.rss("Sport", ["s-1"], "de")),
    }
    _report, found, rejected, requests = run_site(routes)
    assert found == [
        ("/inland/index~rss2.xml", "rss", "Inland", "de", 2),
        ("/sport/index~rss2.xml", "rss", "Sport", "de", 1),
    ]
    assert rejected == {"/service/rss": "an HTML page, not a feed"}
    assert "/feed/" not in requests


def test_typo3_type_100_from_the_common_locations() -> None:
    routes = {
        "/": (200, sites.HTML, sites.page()),
        "/?type=100": (200, RSS_TYPE, sites.rss("Stadtwerke", ["t-1"], "de")),
    }
    _report, found, _, requests = run_site(routes)
    assert found == [("/?type=100", "rss", "Stadtwerke", "de", 1)]
    assert requests[-1] == "/?type=100" and len(requests) == 12  # robots, home, 10 tries


@pytest.mark.parametrize(
    ("status", "robots_note"),
    [(503, "robots.txt answered HTTP 503"), (403, "robots.txt answered HTTP 403")],
)
def test_a_site_whose_robots_txt_says_no_is_left_alone(status: int, robots_note: str) -> None:
    routes = dict(sites.LINK_TAGS)
    routes["/robots.txt"] = (status, sites.TEXT, "no")
    report, found, _, requests = run_site(routes)
    assert found == [] and requests == ["/robots.txt"]
    line = describe_attempts(report)
    assert line.startswith("1 request; homepage: robots_")
    assert f"robots.txt: {robots_note}" in line


def test_a_candidate_that_breaks_the_parser_is_left_out(monkeypatch) -> None:
    import transforms.sources.discover as discover_module

    real = discover_module.evaluate

    def fragile(candidate, body, headers, now):
        if candidate.url.endswith("/news.rss"):
            raise RecursionError("hostile nesting")
        return real(candidate, body, headers, now)

    monkeypatch.setattr(discover_module, "evaluate", fragile)
    _report, found, rejected, _ = run_site(sites.LINK_TAGS)
    assert [f[0] for f in found] == ["/sport.atom", "/feed.json"]
    assert rejected == {"/news.rss": "unreadable (RecursionError)"}


def test_discover_command_on_a_slow_site_gives_up_with_a_reason(capsys) -> None:
    with SiteServer(sites.SLOW, sites.SLOW_HOLD) as slow, SiteServer(sites.WORDPRESS) as quick:
        code = main(
            ["discover", slow.url(), quick.url(), "--allow-private-hosts", "--delay", "0"]
            + ["--timeout", "0.2"]
        )
        asked = list(slow.requests)
        base = slow.base
    assert code == EXIT_OK  # the other site gave a feed
    assert asked == ["/robots.txt", "/"]
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("newsbeam: nothing found")]
    assert line.startswith(f"newsbeam: nothing found at {base}/: 2 requests; homepage: ")
    assert line.endswith("is not answering (timeout, timeout)")


def test_discovered_yaml_is_a_config_that_run_reads(tmp_path, capsys) -> None:
    config, out = tmp_path / "feeds.yaml", tmp_path / "out"
    with SiteServer(sites.WORDPRESS) as a, SiteServer(sites.NEWS_SITEMAP_ONLY) as b:
        argv = ["discover", a.url(), b.url(), "--allow-private-hosts", "--delay", "0"]
        assert main([*argv, "--out", str(config)]) == EXIT_OK
        run = ["run", "--config", str(config), "--output", str(out), "--date", "2026-11-24"]
        assert main([*run, "--allow-private-hosts", "--quiet"]) == EXIT_OK
    (manifest,) = [json.loads(p.read_text()) for p in (out / "_runs").glob("*/*.json")]
    assert manifest["feeds"]["ok"] == 2 and manifest["counters"]["written"] == 4
