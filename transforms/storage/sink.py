"""Parquet sinks for articles and dead letters.

Input: ``Article`` or ``DeadLetter`` records. Output: Parquet files under ``file_prefix`` (the
caller decides the directory layout). Counters (namespace ``write``): ``articles``,
``topic:<label>``, ``dead_letter:<stage>``.

Files are zstd-compressed, one per bundle that writes (``shards=0``, the default): one file per
partition in a single-process run, one per worker process with ``--workers N``. A fixed shard
count would make Beam group every row of the run under one key first, so one process would hold
the whole day's rows in memory at the end (peak RSS grew with N; BENCHMARKS.md). The schema
carries ``newsbeam.schema_version`` in its metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.io.parquetio import WriteToParquet

from transforms import progress
from transforms.records import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, Article, DeadLetter, to_row


class _ArticleRowFn(beam.DoFn):
    def setup(self) -> None:
        self._count = beam.metrics.Metrics.counter("write", "articles")

    def process(self, article: Article) -> Iterator[dict[str, Any]]:
        self._count.inc()
        beam.metrics.Metrics.counter("write", f"topic:{article.topic_label}").inc()
        progress.tick("written")
        yield to_row(article)


class _DeadRowFn(beam.DoFn):
    def process(self, letter: DeadLetter) -> Iterator[dict[str, Any]]:
        progress.tick("dead_letters")
        beam.metrics.Metrics.counter("write", f"dead_letter:{letter.stage}").inc()
        yield to_row(letter)


def _parquet(file_prefix: str, schema: Any, shards: int) -> WriteToParquet:
    return WriteToParquet(
        file_prefix,
        schema=schema,
        codec="zstd",
        file_name_suffix=".parquet",
        num_shards=shards,
        record_batch_size=1000,
        # Rows wait in memory until this many bytes make a row group: 16 MB (about 2,000
        # articles) keeps a long run's writer small; readers do not need bigger groups.
        row_group_buffer_size=16 * 1024 * 1024,
        shard_name_template="-SSSSS-of-NNNNN",
    )


class WriteArticles(beam.PTransform):
    """Write articles; returns the PCollection of written file names."""

    def __init__(self, file_prefix: str, shards: int = 0) -> None:
        super().__init__()
        self._prefix = file_prefix
        self._shards = shards

    def expand(self, articles):
        return (
            articles
            | "ToRows" >> beam.ParDo(_ArticleRowFn())
            | "WriteParquet" >> _parquet(self._prefix, ARTICLE_SCHEMA, self._shards)
        )


class WriteDeadLetters(beam.PTransform):
    """Write dead letters; returns the PCollection of written file names."""

    def __init__(self, file_prefix: str, shards: int = 0) -> None:
        super().__init__()
        self._prefix = file_prefix
        self._shards = shards

    def expand(self, letters):
        return (
            letters
            | "ToRows" >> beam.ParDo(_DeadRowFn())
            | "WriteParquet" >> _parquet(self._prefix, DEAD_LETTER_SCHEMA, self._shards)
        )


class _ParquetRows(fileio.FileSink):
    """A Beam file sink writing ``(date, Article | DeadLetter)`` as Parquet rows of one schema."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema

    def open(self, fh) -> None:
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(fh, self._schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, dated: tuple[str, Article | DeadLetter]) -> None:
        record = dated[1]
        if isinstance(record, Article):
            beam.metrics.Metrics.counter("write", "articles").inc()
            beam.metrics.Metrics.counter("write", f"topic:{record.topic_label}").inc()
        else:
            beam.metrics.Metrics.counter("write", f"dead_letter:{record.stage}").inc()
        self._rows.append(to_row(record))
        if len(self._rows) >= 1000:
            self._write_rows()

    def _write_rows(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def flush(self) -> None:
        self._write_rows()
        self._writer.close()


class _SinkOf:
    """Picklable sink factory for WriteToFiles (a lambda would capture the schema badly)."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema

    def __call__(self, _destination: str) -> _ParquetRows:
        return _ParquetRows(self._schema)


def date_of(dated: tuple[str, Any]) -> str:
    return dated[0]


def dated_name(prefix: str):
    """File names ``<date>~<prefix>-SSSSS-of-NNNNN.parquet`` in one folder; the application moves
    each into its ``date=`` folder (Beam's file writer makes no sub-folders)."""

    def _name(window, pane, shard_index, total_shards, compression, destination) -> str:
        return f"{destination}~{prefix}-{shard_index:05d}-of-{total_shards:05d}.parquet"

    return _name


class WriteDated(beam.PTransform):
    """``(date, Article | DeadLetter)`` → Parquet files per date in ``directory`` (see
    :func:`dated_name`), for runs whose rows fall on several dates (WARC ingest)."""

    def __init__(self, directory: str, prefix: str, schema: Any, temp_directory: str) -> None:
        super().__init__()
        self._directory = directory
        self._prefix = prefix
        self._schema = schema
        self._temp = temp_directory

    def expand(self, dated):
        return dated | "WriteParquet" >> fileio.WriteToFiles(
            self._directory,
            file_naming=dated_name(self._prefix),
            destination=date_of,
            sink=_SinkOf(self._schema),
            temp_directory=StaticValueProvider(str, self._temp),
            shards=1,
        )
