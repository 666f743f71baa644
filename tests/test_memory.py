"""Near-duplicate marking: the Beam join over ids and hashes, and the Parquet post-pass."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SHARED_DATA
from transforms.storage.memory import (
    _WORDS,
    MIN_WORDS,
    SHINGLE,
    FindNearDuplicates,
    Remembered,
    apply_duplicates,
    simhash,
    to_hex,
)
from transforms.records import ARTICLE_SCHEMA, UTC, Article, to_row

WORDS = ("harbour council budget school museum railway river clinic league market research court "
         "weather festival union bridge election energy transport housing").split()


def _story(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _article(ident: str, text: str, published: int) -> Article:
    return Article(
        id=ident, url=f"https://x.test/{ident}", final_url=f"https://x.test/{ident}", feed_url="f",
        source="X", title=ident, summary="", text=text, text_source="page",
        fetched_at=dt.datetime(2026, 11, 24, tzinfo=UTC),
        published_at=dt.datetime(2026, 11, 24, published, tzinfo=UTC),
        content_hash=to_hex(simhash(text)),
    )


def test_simhash_is_stable_and_close_for_near_copies() -> None:
    text = _story(1)
    assert simhash(text) == simhash(text)
    changed = text.replace("harbour", "port", 1)
    assert (simhash(text) ^ simhash(changed)).bit_count() <= 6
    assert (simhash(text) ^ simhash(_story(2))).bit_count() > 12
    assert simhash("too short") is None


def test_find_near_duplicates_points_to_the_first_copy() -> None:
    base = _story(7)
    first = _article("a", base, published=8)
    copy = _article("b", base.replace("harbour", "port", 1), published=9)  # 4 bits apart
    other = _article("c", _story(8), published=10)
    old = _article("z", _story(9), published=1)
    again = _article("d", _story(9), published=11)  # same text as one written on an earlier date
    with TestPipeline() as p:
        hashed = p | "A" >> beam.Create([first, copy, other, again])
        remembered = p | "R" >> beam.Create([Remembered("z", old.content_hash, "2026-11-23")])
        pairs = (hashed, remembered) | FindNearDuplicates("2026-11-24")
        assert_that(pairs, equal_to([("b", "a"), ("d", "z")]))


def test_apply_duplicates_rewrites_only_what_it_must(tmp_path) -> None:
    rows = [to_row(_article(i, _story(n), 8)) for n, i in enumerate("abcd")]
    schema = ARTICLE_SCHEMA.with_metadata({b"newsbeam.schema_version": b"test"})
    path = tmp_path / "part.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=2)

    assert apply_duplicates(str(path), {"x": "y"}) is False  # no row of this file: left alone
    assert apply_duplicates(str(path), {"c": "a"}) is True
    table = pq.read_table(path)
    assert table.column("duplicate_of").to_pylist() == [None, None, "a", None]
    assert table.schema.metadata[b"newsbeam.schema_version"] == b"test"
    assert table.drop(["duplicate_of"]).to_pylist() == pa.Table.from_pylist(rows, schema=schema).drop(
        ["duplicate_of"]).to_pylist()
    assert not (tmp_path / "part.parquet.dup").exists()


def test_article_keeps_hash_through_replace() -> None:
    art = _article("a", _story(3), 8)
    assert dataclasses.replace(art, duplicate_of="q").content_hash == art.content_hash


def test_read_memory_copes_with_partitions_of_every_schema_version(tmp_path) -> None:
    """A schema-1 partition has no canonical_url column: the memory reads it all the same."""
    from transforms.storage.memory import ReadMemory

    old_schema = pa.schema([f for f in ARTICLE_SCHEMA if f.name not in ("images", "modified_at",
                                                                        "canonical_url")])
    old = tmp_path / "articles" / "date=2026-11-22"
    new = tmp_path / "articles" / "date=2026-11-23"
    old.mkdir(parents=True)
    new.mkdir(parents=True)
    row = to_row(_article("a", _story(1), 8))
    pq.write_table(pa.Table.from_pylist([{k: row[k] for k in old_schema.names}], schema=old_schema),
                   old / "part-0.parquet")
    later = dataclasses.replace(_article("b", _story(2), 8), canonical_url="https://x.test/orig")
    pq.write_table(pa.Table.from_pylist([to_row(later)], schema=ARTICLE_SCHEMA), new / "part-0.parquet")
    with TestPipeline() as p:
        read = p | ReadMemory([str(old / "*.parquet"), str(new / "*.parquet")])
        assert_that(read, equal_to([
            Remembered("a", row["content_hash"], "2026-11-22", "https://x.test/a", None),
            Remembered("b", later.content_hash, "2026-11-23", "https://x.test/b", "https://x.test/orig"),
        ]))


def test_drop_seen_canonical_takes_out_copies_of_earlier_articles() -> None:
    """Today's AMP link to yesterday's article (its canonical URL is yesterday's link), and
    today's link that yesterday's AMP copy named as canonical, are duplicates; the rest stay."""
    from transforms.storage.memory import DropSeenCanonical

    amp = dataclasses.replace(_article("amp", _story(1), 8), url="https://amp.x.test/a",
                              canonical_url="https://www.x.test/a")
    original = dataclasses.replace(_article("orig", _story(2), 8), url="https://x.test/b")
    fresh = dataclasses.replace(_article("new", _story(3), 8), canonical_url="https://x.test/new")
    remembered = [
        Remembered("y1", None, "2026-11-23", "https://x.test/a", None),  # older schema: no canonical
        Remembered("y2", None, "2026-11-23", "https://amp.x.test/b", "https://x.test/b"),
    ]
    p = TestPipeline()
    articles = p | "A" >> beam.Create([amp, original, fresh])
    memory = p | "R" >> beam.Create(remembered)
    kept = (articles, memory) | DropSeenCanonical()
    assert_that(kept | beam.Map(lambda a: a.id), equal_to(["new"]))
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(beam.metrics.MetricsFilter().with_namespace("memory"))[
            "counters"
        ]
    }
    assert counters["seen_earlier"] == counters["seen_earlier:canonical_url"] == 2


# --- simhash against the implementation it replaced --------------------------------------------
# The hashes are stored and compared across daily runs: any change to a value is a bug.


def _reference_simhash(text: str) -> int | None:
    """``simhash`` as first written (one list slice, join and encoding per shingle, and a Python
    loop over the 64 bits): the values stored by earlier runs."""
    words = _WORDS.findall(text.lower())
    if len(words) < MIN_WORDS:
        return None
    digests = b"".join(
        hashlib.blake2b(" ".join(words[i : i + SHINGLE]).encode("utf-8"), digest_size=8).digest()
        for i in range(len(words) - SHINGLE + 1)
    )
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(-1, 64)
    ones = bits.sum(axis=0, dtype=np.int64)[::-1]
    shingles = bits.shape[0]
    return sum(1 << bit for bit in range(64) if 2 * int(ones[bit]) > shingles)


SIMHASH_TEXTS = [
    _story(1),
    _story(2, n=MIN_WORDS),
    _story(3, n=MIN_WORDS - 1),
    _story(4, n=5000),
    "Die Bundesregierung hat am Mittwoch in Berlin den Haushalt für 2025 beschlossen. " * 8,
    "ÄRGER ÜBER DIE FUSSBALL-ÜBERTRAGUNG: Straße, Maß und Öl — İstanbul, ǅemal, ß " * 8,
    "政府 周三 批准了 一项 支持 可再生能源 的 新法律 日本語 の ニュース 한국어 뉴스 " * 6,
    "Правительство в среду одобрило новый закон; الحكومة وافقت يوم الأربعاء " * 8,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕿𝖊𝖝𝖙 𠀀𠀁 beyond the BMP, emoji 😀 between 🎉 words " * 8,
    "snake_case words__with_underscores and digits 123 4.5 ½ ² ٣ " * 8,
    "lone \ud800 surrogates \udfff split words a\ud83db " * 12,
    "e\u0301te\u0301 cafe\u0301 combining marks split words " * 12,
    "\n\n".join(f"Paragraph {i}: the council met on Monday." for i in range(30)),
    "",
    "   \n\t ",
]


def _shared_texts() -> list[str]:
    path = SHARED_DATA / "topics" / "bbc" / "bbc.jsonl"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle][:400]


def test_simhash_equals_the_reference() -> None:
    for text in SIMHASH_TEXTS + _shared_texts():
        assert simhash(text) == _reference_simhash(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        # Any code point, lone surrogates too (category Cs), so words of every script.
        st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=8),
        min_size=MIN_WORDS - 2,
        max_size=120,
    )
)
def test_simhash_equals_the_reference_on_any_text(parts: list[str]) -> None:
    text = " ".join(parts)
    assert simhash(text) == _reference_simhash(text)


def test_simhash_values_are_pinned() -> None:
    # Values stored by earlier runs; computed with _reference_simhash.
    assert [to_hex(simhash(t)) for t in SIMHASH_TEXTS[:9]] == [
        "18e001d8784e39a5",
        "346e2f8a98a78482",
        None,
        "66cdff0efbc83a0e",
        "37265507a708a85a",
        "dce48d44b9a456d6",
        "506a8015bea53198",
        "1985bde1624fe513",
        "73a7ed2055f5e7a9",
    ]


def test_link_set_merges_partial_sets_into_one_sorted_array() -> None:
    from transforms.storage.memory import LinkSet, link_hash

    combine = LinkSet()
    keys = ["x.test/a", "x.test/b", "y.test/c", "x.test/a"]
    parts = [combine.create_accumulator() for _ in range(3)]
    for i, key in enumerate(keys):  # as workers would see them: split, one repeated
        parts[i % 3] = combine.add_input(parts[i % 3], link_hash(key))
    merged = combine.extract_output(combine.merge_accumulators(parts))
    assert merged.dtype == np.uint64
    assert merged.tolist() == sorted({link_hash(k) for k in keys})
    assert combine.extract_output(combine.create_accumulator()).size == 0
    assert link_hash("x.test/a") == link_hash("x.test/a") != link_hash("x.test/b")


def test_seen_earlier_matches_link_or_canonical_url_whatever_the_scheme() -> None:
    from transforms.storage.memory import LinkSet, _remembered_link_hashes, seen_earlier

    combine = LinkSet()
    acc = combine.create_accumulator()
    for item in (Remembered("y1", None, "2026-11-23", "https://www.x.test/a", None),
                 Remembered("y2", None, "2026-11-23", "https://amp.x.test/b", "https://x.test/b")):
        for value in _remembered_link_hashes(item):
            acc = combine.add_input(acc, value)
    links = combine.extract_output(acc)
    story = _article("s", _story(1), 8)
    assert seen_earlier(dataclasses.replace(story, url="http://x.test/a"), links)  # no www, http
    assert seen_earlier(dataclasses.replace(story, url="https://x.test/z", canonical_url="https://x.test/b"), links)
    assert not seen_earlier(dataclasses.replace(story, url="https://x.test/ab"), links)  # not a prefix
    assert not seen_earlier(dataclasses.replace(story, url="https://x.test/a"), np.zeros(0, np.uint64))
