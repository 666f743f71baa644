"""Keep every fetched answer as WARC (ISO 28500), so pages can be extracted again later.

Input: ``FetchedPage`` (every answer the fetch stage received: 2xx and error answers alike).
Output: gzipped WARC/1.1 files under the directory given (the caller decides the layout), one
gzip member per record, so any reader can seek to a record and a damaged member costs only
itself. Per page, two records:

- ``response``: WARC-Target-URI = the URL that gave this answer (after redirects), WARC-Date =
  the fetch time in microseconds; the block is the HTTP status line, the headers in the
  server's order and case, and the body as received. The body is kept *decoded*: the fetch
  stage undoes gzip/deflate while it caps the size (a bomb never inflates), so the original
  ``Content-Encoding``, ``Transfer-Encoding`` and ``Content-Length`` headers are kept under
  ``X-Crawler-`` names (as Common Crawl does) and ``Content-Length`` gives the stored length;
  every WARC reader then reads the block as it is.
- ``metadata`` (WARC-Concurrent-To the response): JSON tying the answer to the feed entry it
  was fetched for: the whole ``FeedEntry`` (id, canonical URL, feed URL, title, dates …), the
  redirect chain, ``fetched_at``. ``newsbeam reprocess`` rebuilds the entry from it.

Counters (namespace ``archive``): ``records``, ``http:<status>``.
No dead letters: a page that cannot be written is a failure of the output, not of the input.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import uuid
from typing import Any, BinaryIO

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.options.value_provider import StaticValueProvider

from transforms.records import UTC, FeedEntry, FetchedPage

METADATA_TYPE = "application/vnd.newsbeam.entry+json"
# Headers that describe the bytes on the wire, not the decoded body the record holds.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
_SOFTWARE = "newsbeam (https://github.com/newsbeam/newsbeam)"


def warc_date(when: dt.datetime) -> str:
    """WARC/1.1 date with microseconds, UTC: ``2026-11-24T08:15:00.123456Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def archived_headers(page: FetchedPage) -> list[tuple[str, str]]:
    """The answer's headers for the record: wire-only ones renamed, the stored length set."""
    headers = []
    for name, value in page.headers:
        if name.lower() in _WIRE_HEADERS:
            headers.append((f"X-Crawler-{name}", value))
        else:
            headers.append((name, value))
    headers.append(("Content-Length", str(len(page.body))))
    return headers


# The entry's datetime fields, written as ISO 8601 strings.
_TIMES = ("published", "updated")


def entry_json(entry: FeedEntry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    for name in _TIMES:
        value = getattr(entry, name)
        data[name] = value.isoformat() if value else None
    return data


def entry_from_json(data: dict[str, Any]) -> FeedEntry:
    """The ``FeedEntry`` a metadata record describes (inverse of :func:`entry_json`)."""
    fields = {f.name for f in dataclasses.fields(FeedEntry)}
    values = {k: v for k, v in data.items() if k in fields}
    for name in _TIMES:
        if values.get(name):
            values[name] = dt.datetime.fromisoformat(values[name])
    for name in ("authors", "tags"):
        values[name] = tuple(values.get(name) or ())
    return FeedEntry(**values)


def page_metadata(page: FetchedPage) -> dict[str, Any]:
    return {
        "entry": entry_json(page.entry),
        "final_url": page.final_url,
        "redirects": list(page.redirects),
        "fetched_at": page.fetched_at.isoformat(),
    }


def write_page(writer: Any, page: FetchedPage) -> None:
    """Append the response and metadata records of one page to a warcio ``WARCWriter``."""
    from warcio.statusandheaders import StatusAndHeaders

    status_line = f"{page.http_status} {page.reason}".rstrip()
    protocol = page.http_version or "HTTP/1.1"
    http_headers = StatusAndHeaders(status_line, archived_headers(page), protocol=protocol)
    date = warc_date(page.fetched_at)
    response = writer.create_warc_record(
        page.final_url, "response", payload=io.BytesIO(page.body), http_headers=http_headers,
        warc_headers_dict={"WARC-Date": date},
    )
    writer.write_record(response)
    meta = json.dumps(page_metadata(page), sort_keys=True).encode("utf-8")
    metadata = writer.create_warc_record(
        page.final_url, "metadata", payload=io.BytesIO(meta), warc_content_type=METADATA_TYPE,
        warc_headers_dict={
            "WARC-Date": date,
            "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
        },
    )
    writer.write_record(metadata)


class _WarcSink(fileio.FileSink):
    """A Beam file sink writing pages as WARC; warcio is loaded on the worker, at open."""

    def open(self, fh: BinaryIO) -> None:
        from warcio.warcwriter import WARCWriter

        self._writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        info = self._writer.create_warcinfo_record(
            "", {"software": _SOFTWARE, "format": "WARC File Format 1.1"}
        )
        self._writer.write_record(info)
        self._records = beam.metrics.Metrics.counter("archive", "records")

    def write(self, page: FetchedPage) -> None:
        write_page(self._writer, page)
        self._records.inc()
        beam.metrics.Metrics.counter("archive", f"http:{page.http_status}").inc()

    def flush(self) -> None:
        pass  # every record is a complete gzip member once written


class WriteArchive(beam.PTransform):
    """``FetchedPage`` → WARC files ``<directory>/<prefix>-SSSSS-of-NNNNN.warc.gz``.

    ``temp_directory`` holds the files until Beam has written them all (give one inside the
    run's staging area, so a failed run leaves nothing beside the output)."""

    def __init__(self, directory: str, prefix: str, temp_directory: str) -> None:
        super().__init__()
        self._directory = directory
        self._prefix = prefix
        self._temp = temp_directory

    def expand(self, pages):
        return pages | "WriteWarc" >> fileio.WriteToFiles(
            self._directory,
            file_naming=fileio.default_file_naming(self._prefix, ".warc.gz"),
            sink=_WarcSink,
            temp_directory=StaticValueProvider(str, self._temp),
            shards=1,
        )


class _BundleWarcFn(beam.DoFn):
    """One WARC file per date per bundle, written aside and renamed when the bundle ends, so a
    reader never sees half a file (streams, which have no end to wait for)."""

    def __init__(self, path_template: str, tmp_dir: str) -> None:
        self._template = path_template
        self._tmp_dir = tmp_dir

    def setup(self) -> None:
        from apache_beam.io.filesystems import FileSystems

        self._fs = FileSystems
        self._records = beam.metrics.Metrics.counter("archive", "records")
        self._files = beam.metrics.Metrics.counter("archive", "files")

    def start_bundle(self) -> None:
        self._open: dict[str, tuple[str, Any, Any]] = {}

    def _writer(self, date: str) -> Any:
        if date not in self._open:
            from warcio.warcwriter import WARCWriter

            if "://" not in self._tmp_dir:
                os.makedirs(self._tmp_dir, exist_ok=True)
            tmp = self._fs.join(self._tmp_dir, f"{uuid.uuid4().hex}.warc.gz")
            # UNCOMPRESSED: the members are gzipped record by record already; by the name's
            # extension Beam would gzip the whole stream once more.
            handle = self._fs.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED)
            writer = WARCWriter(handle, gzip=True, warc_version="1.1")
            writer.write_record(writer.create_warcinfo_record("", {"software": _SOFTWARE}))
            self._open[date] = (tmp, handle, writer)
        return self._open[date][2]

    def process(self, page: FetchedPage) -> None:
        write_page(self._writer(page.fetched_at.astimezone(UTC).date().isoformat()), page)
        self._records.inc()
        beam.metrics.Metrics.counter("archive", f"http:{page.http_status}").inc()

    def finish_bundle(self) -> None:
        for date, (tmp, handle, _writer) in sorted(self._open.items()):
            handle.close()
            final = self._template.format(date=date, uid=uuid.uuid4().hex[:12])
            if "://" not in final:
                os.makedirs(os.path.dirname(final), exist_ok=True)
            self._fs.rename([tmp], [final])
            self._files.inc()
        self._open = {}


class WriteArchiveBundles(beam.PTransform):
    """``FetchedPage`` → WARC files named by ``path_template`` (``{date}`` = fetch date, ``{uid}``
    unique), one per bundle and date; for streaming pipelines."""

    def __init__(self, path_template: str, tmp_dir: str) -> None:
        super().__init__()
        self._template = path_template
        self._tmp_dir = tmp_dir

    def expand(self, pages):
        return pages | "WriteWarcBundles" >> beam.ParDo(_BundleWarcFn(self._template, self._tmp_dir))
