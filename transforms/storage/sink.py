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
