"""Records and sink schemas must agree: every column is a field, every row matches the schema."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa

from transforms.records import (
    ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, SCHEMA_VERSION, UTC, Article, DeadLetter, to_row,
)


def test_every_column_is_a_record_field() -> None:
    article_fields = {f.name for f in dataclasses.fields(Article)}
    assert set(ARTICLE_SCHEMA.names) <= article_fields
    hints = {"feed_language", "feed_topic", "page_keywords"}  # stage inputs, never written
    assert set(ARTICLE_SCHEMA.names) | hints == article_fields
    # ``page``: a refused answer on its way to the WARC archive, never written.
    assert set(DEAD_LETTER_SCHEMA.names) | {"page"} == {f.name for f in dataclasses.fields(DeadLetter)}


def test_rows_convert_to_the_schema() -> None:
    now = dt.datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    article = Article(id="i", url="u", final_url="u", feed_url="f", source="s", title="t",
                      summary="", text="x", text_source="page", fetched_at=now,
                      authors=("A",), image_credits=("dpa",), topics=("medtop:11000000",),
                      topic_scores=(0.9,), word_count=1)
    table = pa.Table.from_pylist([to_row(article)], schema=ARTICLE_SCHEMA)
    assert table.column("authors").to_pylist() == [["A"]]
    assert table.column("fetched_at").type == pa.timestamp("us", tz="UTC")
    letter = DeadLetter("fetch_article", "u", "http_error", "HTTP 404", now, 404, "f")
    assert pa.Table.from_pylist([to_row(letter)], schema=DEAD_LETTER_SCHEMA).num_rows == 1


def test_schema_version_in_metadata() -> None:
    assert ARTICLE_SCHEMA.metadata[b"newsbeam.schema_version"] == SCHEMA_VERSION.encode()
    assert DEAD_LETTER_SCHEMA.metadata[b"newsbeam.schema_version"] == SCHEMA_VERSION.encode()
