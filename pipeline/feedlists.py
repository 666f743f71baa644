"""Feed lists in and out: ``newsbeam discover``, ``newsbeam export-feeds`` and OPML sources.

- ``discover URL …`` finds each site's feeds (transforms.sources.discover) and writes them as a
  ``feeds:`` YAML block for the config, or as OPML 2.0; exit 3 when no site gave a feed.
- ``export-feeds`` writes the feeds of a config (and of OPML files) as OPML or YAML.
- ``--opml FILE_OR_URL`` of run/stream and ``opml:`` in the config add the feeds of OPML files:
  :func:`with_opml` expands them into the config's feed list before a run. A broken OPML file is
  a :class:`ConfigError` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from transforms.sources.opml import OpmlError, OpmlFeed, parse_opml, write_opml

if TYPE_CHECKING:  # pipeline.config and transforms.sources.discover load Beam: imported where used, so
    # that `newsbeam --help` stays fast
    from pipeline.config import FeedConfig, RunConfig
    from transforms.sources.discover import Found, SiteReport

EXIT_OK = 0
EXIT_NO_FEEDS = 3

DISCOVER_EXAMPLE = """examples:
  newsbeam discover https://www.tagesschau.de https://www.theguardian.com/world
  newsbeam discover https://blog.example.org --out feeds.yaml
  newsbeam discover https://example.org https://example.com --format opml --out feeds.opml
  newsbeam discover https://example.org --include-comments --max-requests 30

Per site, in order of cost: the homepage's <link rel="alternate"> feeds, robots.txt sitemaps
(news sitemaps first), <a> links that look like feeds, then common locations (/feed/, /rss,
/index.xml, ?type=100, /sitemap_news.xml …) only if nothing was found. Every candidate is read
with the run's own feed parser; HTML pages, comments feeds and copies of a feed are left out.
Exit 3 when no site gave a feed."""

EXPORT_EXAMPLE = """examples:
  newsbeam export-feeds --config configs/feeds.yaml --out feeds.opml
  newsbeam export-feeds --opml subscriptions.opml --format yaml > feeds.yaml"""


# --- OPML as a feed source ----------------------------------------------------------------------


def read_opml_source(source: str, allow_private_hosts: bool = False) -> bytes:
    """The bytes of an OPML file or URL; URLs are fetched with the run's safe client."""
    from pipeline.config import ConfigError

    if source.startswith(("http://", "https://")):
        from transforms.fetching.http import FetchError, HttpConfig, fetch, make_client

        http = HttpConfig(allow_private_hosts=allow_private_hosts, max_bytes=5 * 1024 * 1024)
        with make_client(http, max_connections=1) as client:
            try:
                response = fetch(client, source, http)
            except FetchError as exc:
                raise ConfigError(f"--opml {source}: cannot fetch it: {exc}") from None
        if not 200 <= response.status < 300:
            raise ConfigError(f"--opml {source}: HTTP {response.status}")
        return response.body
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read OPML file {source}: {exc.strerror}") from None


def opml_feeds(source: str, allow_private_hosts: bool = False) -> list[FeedConfig]:
    """The feeds of one OPML file or URL as config entries (folders and categories as tags)."""
    from pydantic import ValidationError

    from pipeline.config import ConfigError, FeedConfig

    try:
        feeds = parse_opml(read_opml_source(source, allow_private_hosts))
    except OpmlError as exc:
        raise ConfigError(f"{source}: not a usable OPML file: {exc}") from None
    configs = []
    for feed in feeds:
        language = feed.language if feed.language and len(feed.language) == 2 else None
        try:
            configs.append(
                FeedConfig(url=feed.url, name=feed.title, language=language, tags=feed.tags)
            )
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{source}: feed {feed.url}: {message}") from None
    return configs


def with_opml(cfg: RunConfig, sources: list[str], allow_private_hosts: bool = False) -> RunConfig:
    """``cfg`` with the feeds of its ``opml:`` files and of ``sources`` (``--opml``) appended;
    a URL already in the list is kept once, with the first entry's settings."""
    every = [*cfg.opml, *sources]
    if not every:
        return cfg
    feeds = list(cfg.feeds)
    known = {f.url for f in feeds}
    for source in every:
        for feed in opml_feeds(source, allow_private_hosts):
            if feed.url not in known:
                feeds.append(feed)
                known.add(feed.url)
    return cfg.model_copy(update={"feeds": tuple(feeds)})


# --- writing feed lists -------------------------------------------------------------------------


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _source_label(source: str) -> str:
    return {
        "link": '<link rel="alternate">',
        "a": "a feed link on the homepage",
        "feed-page": "the site's list of feeds",
        "robots": "robots.txt",
        "sitemap-index": "a sitemap index",
        "common": "a common location",
    }.get(source, source)


def _name(found: Found, site: str) -> str:
    if found.title:
        return found.title
    host = urllib.parse.urlsplit(site).netloc
    return f"{host} {found.kind}"


def discovered_yaml(reports: list[SiteReport], now: dt.datetime) -> str:
    """A ``feeds:`` block for the config: name, url and language as keys, the rest as comments."""
    lines = [f"# newsbeam discover, {now:%Y-%m-%d %H:%M} UTC: paste under feeds: in your config"]
    lines.append("feeds:" if any(r.feeds for r in reports) else "feeds: []")
    from transforms.sources.discover import plural

    seen: set[str] = set()
    for report in reports:
        spent = plural(report.requests, "request")
        lines.append(f"  # {report.site}: {len(report.feeds)} found in {spent}")
        for found in report.feeds:
            if found.url in seen:  # two sites pointing at one feed (a feed proxy, a group feed)
                lines.append(f"  # {found.url} is listed above")
                continue
            seen.add(found.url)
            what = "comments feed, " if found.comments else ""
            lines.append(
                f"  - name: {_q(_name(found, report.site))}  # {what}{found.kind}, "
                f"{found.entries} entries, from {_source_label(found.source)}"
            )
            lines.append(f"    url: {_q(found.url)}")
            if found.language:
                lines.append(f"    language: {found.language}")
    return "\n".join(lines) + "\n"


def discovered_opml(reports: list[SiteReport], now: dt.datetime) -> bytes:
    feeds: dict[str, OpmlFeed] = {}
    for r in reports:
        for f in r.feeds:
            feeds.setdefault(f.url, OpmlFeed(f.url, _name(f, r.site), (), r.site, f.language))
    return write_opml(feeds.values(), "newsbeam discover", now)


def config_opml(feeds: list[FeedConfig], title: str, now: dt.datetime) -> bytes:
    return write_opml(
        [OpmlFeed(f.url, f.name, tuple(f.tags), "", f.language) for f in feeds], title, now
    )


def config_yaml(feeds: list[FeedConfig]) -> str:
    rows = [f.model_dump(exclude_defaults=True) for f in feeds]
    for row in rows:
        if "tags" in row:
            row["tags"] = list(row["tags"])
    return yaml.safe_dump({"feeds": rows}, allow_unicode=True, sort_keys=False)


def _write(out: str | None, data: str | bytes) -> None:
    from pipeline.config import ConfigError

    if out is None or out == "-":
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        sys.stdout.write(text)
        return
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(out, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None


# --- commands -----------------------------------------------------------------------------------


def _summary(report: SiteReport) -> str:
    from transforms.sources.discover import plural

    kinds = ", ".join(f"{f.kind} {f.url}" for f in report.feeds)
    left: dict[str, int] = {}
    for rejected in report.rejected:
        if rejected.reason.startswith("same entries"):
            key = "copies of a feed"
        elif rejected.reason in ("a comments feed", "an HTML page, not a feed"):
            key = rejected.reason.removeprefix("a ").removeprefix("an ").split(",")[0] + "s"
        else:
            continue
        left[key] = left.get(key, 0) + 1
    skipped = "; left out " + ", ".join(f"{n} {k}" for k, n in left.items()) if left else ""
    spent = plural(report.requests, "request")
    return f"{report.site}: {len(report.feeds)} found in {spent} ({kinds}){skipped}"


def cmd_discover(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from pipeline.config import ConfigError

    from transforms.sources.discover import FEED_MAX_BYTES, DiscoverConfig, describe_attempts, discover
    from transforms.fetching.http import HttpConfig

    for url in args.urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"discover: site URLs must start with http:// or https://, got {url!r}"
            )
    if args.timeout <= 0 or args.delay < 0:
        raise ConfigError("discover: --timeout must be > 0 and --delay >= 0")
    try:
        cfg = DiscoverConfig(
            http=HttpConfig(
                total_timeout=args.timeout,
                read_timeout=args.timeout,
                connect_timeout=min(5.0, args.timeout),
                retries=0,
                max_bytes=FEED_MAX_BYTES,
                allow_private_hosts=args.allow_private_hosts,
            ),
            max_requests=args.max_requests,
            per_host_delay=args.delay,
            include_comments=args.include_comments,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"discover: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    now = dt.datetime.now(dt.timezone.utc)
    reports = discover(list(dict.fromkeys(args.urls)), cfg)
    for report in reports:
        if report.feeds:
            if not args.quiet:
                print(_summary(report), file=sys.stderr)
        else:
            print(
                f"newsbeam: nothing found at {report.site}: {describe_attempts(report)}",
                file=sys.stderr,
            )
    if args.format == "opml":
        _write(args.out, discovered_opml(reports, now))
    else:
        _write(args.out, discovered_yaml(reports, now))
    return EXIT_OK if any(r.feeds for r in reports) else EXIT_NO_FEEDS


def cmd_export_feeds(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError, RunConfig, load_config

    base = load_config(args.config) if args.config else RunConfig()
    cfg = with_opml(base, args.opml, args.allow_private_hosts)
    if not cfg.feeds:
        raise ConfigError("export-feeds: no feeds: give --config FILE or --opml FILE_OR_URL")
    title = f"newsbeam feeds from {args.config or ', '.join(args.opml)}"
    if args.format == "opml":
        _write(args.out, config_opml(list(cfg.feeds), title, dt.datetime.now(dt.timezone.utc)))
    else:
        _write(args.out, config_yaml(list(cfg.feeds)))
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``discover`` and ``export-feeds`` to an argparse subparsers object."""
    fmt = argparse.RawDescriptionHelpFormatter
    disc = subparsers.add_parser(
        "discover",
        help="find the feeds and news sitemaps of sites",
        description="Find each site's feeds and news sitemaps and print them as config entries.",
        epilog=DISCOVER_EXAMPLE,
        formatter_class=fmt,
        allow_abbrev=False,
    )
    disc.add_argument("urls", nargs="+", metavar="URL", help="a site's homepage (or a section)")
    disc.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    disc.add_argument(
        "--format",
        choices=("yaml", "opml"),
        default="yaml",
        help="yaml: a feeds: block for the config (default); opml: OPML 2.0",
    )
    disc.add_argument(
        "--max-requests",
        type=int,
        default=20,
        metavar="N",
        help="requests per site at most, robots.txt included (default 20)",
    )
    disc.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for one answer, body included (default 10)",
    )
    disc.add_argument(
        "--delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="seconds between requests to one host, or its Crawl-delay if longer (default 0.5)",
    )
    disc.add_argument(
        "--include-comments", action="store_true", help="list comments feeds too (marked as such)"
    )
    disc.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="allow private/loopback addresses (tests, intranets)",
    )
    disc.add_argument("-q", "--quiet", action="store_true", help="no per-site summary on stderr")
    disc.set_defaults(func=cmd_discover)

    export = subparsers.add_parser(
        "export-feeds",
        help="write a config's feeds as OPML (or YAML)",
        description="Write the feeds of a config and of OPML files as OPML 2.0 or as YAML.",
        epilog=EXPORT_EXAMPLE,
        formatter_class=fmt,
        allow_abbrev=False,
    )
    export.add_argument("--config", metavar="FILE", help="YAML config whose feeds to export")
    export.add_argument(
        "--opml",
        action="append",
        default=[],
        metavar="FILE_OR_URL",
        help="an OPML file or URL whose feeds to add (repeatable)",
    )
    export.add_argument(
        "--format",
        choices=("opml", "yaml"),
        default="opml",
        help="opml (default) or yaml (a feeds: list)",
    )
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    export.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="allow fetching an --opml URL from private/loopback addresses",
    )
    export.set_defaults(func=cmd_export_feeds)
