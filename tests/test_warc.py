"""WARC archive and replay: run --archive, reprocess without network, run --warc over another
tool's archive (warcio writes the fixtures here, byte for byte as a crawler would)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.cli import EXIT_CONFIG, EXIT_OK, main
from tests.test_daily import SENTENCES, Site, manifests, page, rows, story
from transforms.records import UTC, FeedEntry, FetchedPage
from transforms.sources.warc import (
    Damage,
    Skip,
    WarcConfig,
    host_allowed,
    parse_hosts,
    parse_warc_date,
    read_records,
)
from transforms.storage.archive import entry_from_json, entry_json, write_page

DATE = "2026-11-24"


def _dead(out: Path) -> list[dict]:
    if not (out / "dead_letter").exists():
        return []
    return ds.dataset(out / "dead_letter", format="parquet", partitioning="hive").to_table().to_pylist()


# --- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "keep"),
    [
        ("https://example.com/a", True),
        ("https://www.example.com/a", True),
        ("https://news.example.com/a", True),
        ("https://badexample.com/a", False),
        ("https://example.com.evil.org/a", False),
        ("https://other.org/a", False),
    ],
)
def test_host_filter_takes_domains_and_their_subdomains(url: str, keep: bool) -> None:
    assert host_allowed(url, ("example.com",)) is keep


def test_host_list_from_text() -> None:
    assert parse_hosts("example.com, Other.ORG\n# comment\nthird.net # why\n\nexample.com") == (
        "example.com", "other.org", "third.net")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T08:15:00Z", dt.datetime(2026, 11, 24, 8, 15, tzinfo=UTC)),
        ("2026-11-24T08:15:00.123456Z", dt.datetime(2026, 11, 24, 8, 15, 0, 123456, tzinfo=UTC)),
        ("2026-11-24T10:15:00+02:00", dt.datetime(2026, 11, 24, 8, 15, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_warc_dates(value, expected) -> None:
    assert parse_warc_date(value) == expected


def test_entry_survives_the_metadata_record() -> None:
    entry = FeedEntry(
        "http://f/feed.xml", "Feed", "http://s/a?utm_x=1", "g", "Title", "Sum", "",
        published=dt.datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        updated=dt.datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        authors=("A. Author",), tags=("tag",), feed_language="en", feed_topic="medtop:11000000",
        url="http://s/a", id="abc",
    )
    assert entry_from_json(json.loads(json.dumps(entry_json(entry)))) == entry


def test_archive_record_reads_back_with_warcio() -> None:
    """Status line, headers and body as received; the wire encoding headers renamed; the fetch
    time in microseconds; the metadata record naming the response it belongs to."""
    fetched = dt.datetime(2026, 11, 24, 8, 15, 1, 234567, tzinfo=UTC)
    entry = FeedEntry("http://f/feed.xml", "Feed", "http://s/a", url="http://s/a", id="abc")
    body = b"<html><body><p>Hello</p></body></html>"
    page = FetchedPage(entry, "http://s/b", 404, "text/html", "utf-8", body, fetched,
                       headers=(("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip"),
                                ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")),
                       reason="Not Found", redirects=("http://s/a",))
    buffer = io.BytesIO()
    write_page(WARCWriter(buffer, gzip=True, warc_version="1.1"), page)
    buffer.seek(0)
    records = list(_records(buffer))
    (kind, uri, date, status, headers, got), (mkind, _, _, _, mheaders, meta) = records
    assert (kind, uri, date, status) == ("response", "http://s/b", "2026-11-24T08:15:01.234567Z", "404 Not Found")
    assert got == body
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("X-Crawler-Content-Encoding", "gzip") in headers
    assert ("Content-Length", str(len(body))) in headers
    assert mkind == "metadata"
    data = json.loads(meta)
    assert data["entry"]["id"] == "abc" and data["redirects"] == ["http://s/a"]
    assert data["fetched_at"] == fetched.isoformat()


def _records(stream):
    for record in ArchiveIterator(stream):
        http = record.http_headers
        yield (record.rec_type, record.rec_headers.get_header("WARC-Target-URI"),
               record.rec_headers.get_header("WARC-Date"), http.statusline if http else None,
               http.headers if http else None, record.content_stream().read())


# --- another tool's archive -------------------------------------------------------------------


def _html(title: str, seed: int) -> bytes:
    return page(title, story(seed)).encode("utf-8")


class Crawl:
    """A WARC file as a crawler writes it (warcio), with what archives really hold."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=True)

    def response(self, url: str, status: str, ctype: str, body: bytes,
                 date: str = "2026-11-24T09:00:00Z") -> None:
        http = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
        record = self.writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                http_headers=http, warc_headers_dict={"WARC-Date": date})
        self.writer.write_record(record)

    def request(self, url: str) -> None:
        http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True)
        self.writer.write_record(self.writer.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                                                http_headers=http))

    def revisit(self, url: str) -> None:
        self.writer.write_record(self.writer.create_revisit_record(
            url, digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", refers_to_uri=url,
            refers_to_date="2026-11-20T00:00:00Z"))

    def save(self, path: Path, cut: int = 0) -> Path:
        data = self.buffer.getvalue()
        path.write_bytes(data[: len(data) - cut] if cut else data)
        return path


def mixed_crawl(path: Path) -> Path:
    """Three HTML pages of two sites (one on the next day), a PDF, a 404, a request and a
    revisit record, and a last page whose gzip member is cut short."""
    crawl = Crawl()
    crawl.response("https://harbour.example/news/1.html", "200 OK", "text/html; charset=utf-8", _html("Ferry", 1))
    crawl.request("https://harbour.example/news/1.html")
    crawl.response("https://harbour.example/report.pdf", "200 OK", "application/pdf", b"%PDF-1.4\n%binary")
    crawl.response("https://harbour.example/gone.html", "404 Not Found", "text/html", b"<html><body>gone</body></html>")
    crawl.revisit("https://harbour.example/news/1.html")
    crawl.response("https://www.valley.example/2.html", "200 OK", "text/html", _html("Bridge", 2))
    crawl.response("https://harbour.example/news/3.html", "200 OK", "text/html", _html("Harvest", 3),
                   date="2026-11-25T01:00:00Z")
    crawl.response("https://valley.example/4.html", "200 OK", "text/html", _html("Library", 4))
    return crawl.save(path, cut=60)


def test_reader_counts_skips_and_stops_at_the_damage(tmp_path: Path) -> None:
    path = mixed_crawl(tmp_path / "crawl.warc.gz")
    with path.open("rb") as stream:
        items = list(read_records(stream, str(path), WarcConfig()))
    pages = [i.final_url for i in items if isinstance(i, FetchedPage)]
    assert pages == ["https://harbour.example/news/1.html", "https://www.valley.example/2.html",
                     "https://harbour.example/news/3.html"]
    assert [i.reason for i in items if isinstance(i, Skip)] == ["request", "not_html", "http_404", "revisit"]
    (damage,) = [i for i in items if isinstance(i, Damage)]
    assert isinstance(items[-1], Damage)
    whole = len(gzip.decompress(path.read_bytes()[: damage.offset]))  # every member before it is whole
    assert whole > 0 and damage.offset < path.stat().st_size
    first = next(i for i in items if isinstance(i, FetchedPage))
    assert first.fetched_at == dt.datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert first.entry.feed_url == str(path) and first.entry.id


def test_garbage_after_good_records_is_damage_at_its_offset(tmp_path: Path) -> None:
    crawl = Crawl()
    crawl.response("https://harbour.example/news/1.html", "200 OK", "text/html", _html("Ferry", 1))
    good = len(crawl.buffer.getvalue())
    crawl.buffer.write(b"this is not a gzip member at all" * 10)
    path = crawl.save(tmp_path / "bad.warc.gz")
    with path.open("rb") as stream:
        items = list(read_records(stream, str(path), WarcConfig()))
    assert isinstance(items[0], FetchedPage)
    assert isinstance(items[-1], Damage) and items[-1].offset == good


def test_warc_ingest_end_to_end(tmp_path: Path) -> None:
    path = mixed_crawl(tmp_path / "crawl.warc.gz")
    out = tmp_path / "out"
    assert main(["run", "--warc", str(tmp_path / "*.warc.gz"), "--output", str(out), "-q"]) == EXIT_OK
    found = rows(out)
    assert [(r["url"], str(r["date"])) for r in found] == [
        ("https://harbour.example/news/1.html", DATE),
        ("https://harbour.example/news/3.html", "2026-11-25"),
        ("https://www.valley.example/2.html", DATE),
    ]
    assert all(r["text_source"] == "page" and any(s in r["text"] for s in SENTENCES) for r in found)
    assert found[0]["title"] == "Ferry" and found[0]["word_count"] > 100
    assert found[0]["fetched_at"] == dt.datetime(2026, 11, 24, 9, tzinfo=UTC)
    (letter,) = _dead(out)
    assert letter["stage"] == "read_warc" and letter["error_type"] == "warc_damaged"
    assert str(path) in letter["error_message"] and "byte offset" in letter["error_message"]
    assert "3 pages before it were read" in letter["error_message"]
    (manifest,) = [m for m in manifests(out, DATE)]
    counters = manifest["beam_counters"]
    assert {k: v for k, v in counters.items() if k.startswith("warc/")} == {
        "warc/files": 1, "warc/records": 7, "warc/pages": 3, "warc/damaged": 1,
        "warc/skipped:request": 1, "warc/skipped:not_html": 1, "warc/skipped:http_404": 1,
        "warc/skipped:revisit": 1,
    }
    assert manifest["balanced"] and manifest["accounting"]["written"] == 3
    # The same input again: the same rows, and nothing taken for "seen earlier".
    assert main(["run", "--warc", str(path), "--output", str(out), "-q"]) == EXIT_OK
    again = rows(out)
    assert [{k: v for k, v in r.items()} for r in again] == found


def test_warc_hosts_and_dates_filter(tmp_path: Path) -> None:
    path = mixed_crawl(tmp_path / "crawl.warc.gz")
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# keep the valley only\nvalley.example\n")
    out = tmp_path / "out"
    assert main(["run", "--warc", str(path), "--warc-hosts", str(hosts), "--output", str(out), "-q"]) == EXIT_OK
    assert [r["url"] for r in rows(out)] == ["https://www.valley.example/2.html"]
    day = tmp_path / "day"
    assert main(["run", "--warc", str(path), "--warc-hosts", "harbour.example", "--date", "2026-11-25",
                 "--output", str(day), "-q"]) == EXIT_OK
    assert [r["url"] for r in rows(day)] == ["https://harbour.example/news/3.html"]


def test_warc_memory_skips_articles_of_other_dates(tmp_path: Path) -> None:
    first = Crawl()
    first.response("https://harbour.example/news/1.html", "200 OK", "text/html", _html("Ferry", 1))
    later = Crawl()
    later.response("https://harbour.example/news/1.html", "200 OK", "text/html", _html("Ferry", 1),
                   date="2026-11-26T09:00:00Z")
    later.response("https://harbour.example/news/5.html", "200 OK", "text/html", _html("Museum", 5),
                   date="2026-11-26T09:00:00Z")
    out = tmp_path / "out"
    assert main(["run", "--warc", str(first.save(tmp_path / "a.warc.gz")), "--output", str(out), "-q"]) == 0
    assert main(["run", "--warc", str(later.save(tmp_path / "b.warc.gz")), "--output", str(out), "-q"]) == 0
    assert [(r["url"], str(r["date"])) for r in rows(out)] == [
        ("https://harbour.example/news/1.html", DATE), ("https://harbour.example/news/5.html", "2026-11-26")]
    (later_run,) = manifests(out, "2026-11-26")
    assert later_run["accounting"]["seen_earlier"] == 1 and later_run["balanced"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--warc", "/nonexistent/*.warc.gz"], "no such file, or no file matches"),
        (["run", "--warc-hosts", "a.example", "--feed", "http://x/feed"], "--warc-hosts goes with --warc"),
        (["reprocess", "--date", DATE], f"no archive for {DATE}"),
        (["reprocess", "--all"], "has no archive"),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    assert main([*argv, "--output", str(tmp_path / "out")]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- archive, then reprocess with the site gone ----------------------------------------------


def test_archive_then_reprocess_without_the_site(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    out = tmp_path / "out"
    with site.server:
        # 1, 2, 3 and 7 are pages (7 a near-duplicate of 1); 9 is a 404.
        site.feed([1, 2, 3, 7, 9])
        config = tmp_path / "feeds.yaml"  # archive: true in the config, as --archive does
        config.write_text(f"archive: true\nfeeds:\n  - url: {site.feed_url}\n")
        assert main(["run", "--config", str(config), "--output", str(out), "--date", DATE,
                     "--allow-private-hosts", "-q"]) == EXIT_OK
    before, dead_before = rows(out), _dead(out)
    assert len(before) == 4 and sum(1 for r in before if r["duplicate_of"]) == 1
    (raw,) = (out / "raw" / f"date={DATE}").glob("*.warc.gz")
    with raw.open("rb") as stream:
        kinds = [(r[0], r[3]) for r in _records(stream)]
    assert kinds.count(("response", "200 OK")) == 4 and ("response", "404 Not Found") in kinds
    assert sum(1 for k, _ in kinds if k == "metadata") == 5
    # The site is stopped: anything that tried to fetch would fail.
    assert main(["reprocess", "--output", str(out), "--date", DATE, "-q"]) == EXIT_OK
    after = rows(out)
    assert after == before  # text, metadata, topic, ids, URLs, fetched_at, duplicate_of
    key = lambda r: (r["stage"], r["url"], r["error_type"], r["http_status"])  # noqa: E731
    assert sorted(map(key, _dead(out))) == sorted(map(key, dead_before))
    original, rebuilt = sorted(manifests(out, DATE), key=lambda m: m["started_at"])
    assert "kind" not in original and rebuilt["kind"] == "reprocess"
    assert rebuilt["counters"]["written"] == 4 and rebuilt["counters"]["duplicate_of"] == 1
    assert rebuilt["counters"]["dead_letter_carried"] == 1 and rebuilt["balanced"]
    assert list((out / "raw" / f"date={DATE}").glob("*.warc.gz")) == [raw]  # the archive stays


def test_stream_archive_is_reprocessed_to_the_same_articles(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    out = tmp_path / "out"
    with site.server:
        site.feed([1, 2, 3])
        assert main(["stream", "--feed", site.feed_url, "--output", str(out), "--poll-interval", "1",
                     "--window", "1", "--duration", "3", "--allow-private-hosts", "--archive", "-q"]) == EXIT_OK
    streamed = rows(out)
    assert len(streamed) == 3
    date = str(streamed[0]["date"])
    archived = []
    for path in sorted((out / "raw" / f"date={date}").glob("part-stream-*.warc.gz")):
        with path.open("rb") as stream:
            archived += [r[1] for r in _records(stream) if r[0] == "response"]
    assert sorted(archived) == sorted(r["final_url"] for r in streamed)
    assert main(["reprocess", "--output", str(out), "--all", "-q"]) == EXIT_OK
    fields = ("id", "url", "fetched_at", "title", "text", "topic", "published_at")
    assert [{k: r[k] for k in fields} for r in rows(out)] == [{k: r[k] for k in fields} for r in streamed]


def test_encodings_archived_as_sent_are_undone_or_skipped(tmp_path: Path) -> None:
    """Crawlers that keep the wire bytes store chunked or compressed bodies; a codec nobody can
    undo skips that record, not the rest of the file."""
    body = _html("Ferry", 1)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 500]), body[i:i + 500])
                       for i in range(0, len(body), 500)) + b"0\r\n\r\n"
    crawl = Crawl()
    for url, headers, payload in [
        ("https://a.example/chunked", [("Transfer-Encoding", "chunked")], chunked),
        ("https://a.example/gzip", [("Content-Encoding", "gzip")], gzip.compress(body)),
        ("https://a.example/odd", [("Content-Encoding", "x-unknown-codec")], b"\x00\x01binary"),
        ("https://a.example/plain", [], body),
    ]:
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), *headers], protocol="HTTP/1.1")
        crawl.writer.write_record(crawl.writer.create_warc_record(
            url, "response", payload=io.BytesIO(payload), http_headers=http))
    path = crawl.save(tmp_path / "wire.warc.gz")
    with path.open("rb") as stream:
        items = list(read_records(stream, str(path), WarcConfig()))
    pages = {i.final_url: i.body for i in items if isinstance(i, FetchedPage)}
    assert pages.get("https://a.example/chunked") == body
    assert pages.get("https://a.example/gzip") == body
    assert pages.get("https://a.example/plain") == body
    assert not any(isinstance(i, Damage) for i in items)


def test_fetch_keeps_what_the_archive_needs(tmp_path: Path) -> None:
    """Status line, headers in the server's order, and the redirect chain, from a real fetch."""
    from pipeline.demo_server import SiteServer
    from transforms.fetching.fetch import page_of
    from transforms.fetching.http import HttpConfig, fetch, make_client

    (tmp_path / "new.html").write_text("<html><body><p>moved here</p></body></html>")
    (tmp_path / "_routes.json").write_text(json.dumps({"/old": {"redirect": "/new.html"}}))
    cfg = HttpConfig(allow_private_hosts=True)
    with SiteServer(tmp_path) as server, make_client(cfg) as client:
        response = fetch(client, server.url("/old"), cfg)
        entry = FeedEntry("f", "", server.url("/old"), url=server.url("/old"), id="x")
        page = page_of(entry, response)
    assert page.redirects == (server.url("/old"),) and page.final_url == server.url("/new.html")
    assert (page.http_status, page.reason) == (200, "OK")
    assert page.http_version.startswith("HTTP/1.")
    names = [name for name, _ in page.headers]
    assert "Content-Type" in names and names.index("Content-Type") < names.index("Content-Length")
