"""Memory across runs: skip articles written on earlier dates, mark near-duplicate texts.

Beam keeps no state between pipeline runs, so the memory is the output itself: the caller reads
the ``id`` and ``content_hash`` of articles written under earlier dates as ``Remembered``
records, and these transforms join against them.

- ``DropSeen``: distinct ``FeedEntry`` → entries whose id was not written on an earlier date.
  Counter ``memory/seen_earlier`` (these count as duplicates in the run's accounting).
- ``HashContent``: ``Article`` → the same with ``content_hash`` (64-bit simhash of word
  3-shingles).
- ``DropSeenCanonical``: extracted ``Article`` → those whose page is not an article written on
  an earlier date under another link: the article's ``canonical_url`` or feed link equals an
  earlier article's ``canonical_url`` or feed link (an AMP or mobile copy today, its original
  yesterday). Counters ``memory/seen_earlier`` (with the entries ``DropSeen`` drops: the run's
  duplicates) and ``memory/seen_earlier:canonical_url``. Partitions written before schema
  version 2 have no ``canonical_url`` column; their feed links still count.
- ``FindNearDuplicates``: hashed ``Article`` → ``(id, duplicate_of)`` pairs: the id of the first
  article, earlier dates first, whose hash is within ``MAX_DISTANCE`` bits. Only ids and hashes
  are joined, never whole articles, so the batch graph writes articles as they are made and sets
  ``duplicate_of`` afterwards with :func:`apply_duplicates` (joining full articles made the
  in-memory runner hold every article of the run at once). Near-duplicates are still written:
  the same wire story on two sites is two articles, and users decide what to do with the link.

Candidate pairs come from 7 bands of 9-10 bits: two hashes within 6 bits of each other agree
exactly on at least one band (pigeonhole), so grouping by band finds every pair without comparing
all. 6 bits, not the 3 used for whole web pages: on a news text of a few hundred words one
changed word already moves 3-4 bits, while unrelated texts sit 20 and more bits apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from array import array
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from itertools import accumulate
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.records import Article, FeedEntry
from transforms.sources.canonicalize import identity_key

MAX_DISTANCE = 6
BANDS = MAX_DISTANCE + 1
_BAND_BITS = [64 // BANDS + (1 if i < 64 % BANDS else 0) for i in range(BANDS)]
_BAND_SHIFTS = [sum(_BAND_BITS[:i]) for i in range(BANDS)]
SHINGLE = 3
# Under this many words a simhash says more about boilerplate than about the story.
MIN_WORDS = 40
# A band value shared by thousands of texts is a template, not a story; compare only so many.
MAX_GROUP = 2000
_WORDS = re.compile(r"\w+", re.UNICODE)
_BLAKE2B_8 = hashlib.blake2b(digest_size=8)  # never updated: simhash copies it per shingle


class Remembered(NamedTuple):
    """An article written on an earlier date, as far as the memory needs it."""

    id: str
    content_hash: str | None
    date: str
    url: str | None = None  # the feed's (canonicalized) link
    canonical_url: str | None = None  # None in partitions written before schema version 2


def simhash(text: str) -> int | None:
    """64-bit simhash of lower-cased word 3-shingles; None for texts too short to tell."""
    words = _WORDS.findall(text.lower())
    if len(words) < MIN_WORDS:
        return None
    # A shingle's bytes are a slice of all words joined (" ".join of its words, encoded): one
    # encoding and one slice per shingle instead of a list slice, a join and an encoding. A
    # word never holds a space (\w) and UTF-8 never puts the byte of a space inside a character,
    # so splitting the joined bytes at spaces gives the encoded words and their lengths.
    joined = " ".join(words).encode("utf-8")
    starts = list(accumulate([len(word) + 1 for word in joined.split(b" ")], initial=0))
    # Copying a fresh 8-byte BLAKE2b state is cheaper than making one: the constructor parses
    # its keywords and fills the parameter block per call. Same digests; a third less time for
    # the hashing, the bulk of this function (1,000 shingles on a typical article).
    new_state = _BLAKE2B_8.copy
    digests = []
    for start, end in zip(starts, starts[SHINGLE:]):
        state = new_state()
        state.update(joined[start : end - 1])
        digests.append(state.digest())
    # One row of 64 bits per shingle, most significant first (the digests are big-endian);
    # a bit of the result is set when more shingles have it set than not. Counting the bit
    # columns with numpy instead of a Python loop per bit makes this ~20x cheaper; packing the
    # majorities back into 8 big-endian bytes gives the integer.
    bits = np.unpackbits(np.frombuffer(b"".join(digests), dtype=np.uint8)).reshape(-1, 64)
    ones = bits.sum(axis=0, dtype=np.int32)
    return int.from_bytes(np.packbits(2 * ones > bits.shape[0]).tobytes(), "big")


def to_hex(value: int | None) -> str | None:
    return None if value is None else f"{value:016x}"


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def bands(value: int) -> list[tuple[int, int]]:
    return [
        (i, value >> shift & ((1 << bits) - 1))
        for i, (shift, bits) in enumerate(zip(_BAND_SHIFTS, _BAND_BITS))
    ]


class Candidate(NamedTuple):
    order: tuple[str, str, str]  # (date, published or "~", id): who came first
    id: str
    hash: int
    current: bool  # written by this run (may get duplicate_of) or remembered


def first_copies(
    members: Iterable[Candidate],
) -> Iterator[tuple[str, tuple[tuple[str, str, str], str]]]:
    """For each current member, the earliest other member within MAX_DISTANCE before it."""
    ordered = sorted(members)[:MAX_GROUP]
    for i, member in enumerate(ordered):
        if not member.current:
            continue
        for earlier in ordered[:i]:
            if earlier.id != member.id and distance(earlier.hash, member.hash) <= MAX_DISTANCE:
                yield member.id, (earlier.order, earlier.id)
                break


def article_order(article: Article, date: str) -> tuple[str, str, str]:
    published = article.published_at.isoformat() if article.published_at else "~"
    return (date, published, article.id)


class _HashFn(beam.DoFn):
    def process(self, article: Article) -> Iterator[Article]:
        yield dataclasses.replace(article, content_hash=to_hex(simhash(article.text)))


class HashContent(beam.PTransform):
    """``Article`` → the same with ``content_hash`` set (no near-duplicate search)."""

    def expand(self, articles):
        return articles | "Simhash" >> beam.ParDo(_HashFn())


def _article_bands(article: Article, date: str | None) -> Iterator[tuple[tuple[int, int], Candidate]]:
    date = date or article.fetched_at.astimezone(dt.timezone.utc).date().isoformat()
    if article.content_hash:
        value = int(article.content_hash, 16)
        for band in bands(value):
            yield band, Candidate(article_order(article, date), article.id, value, True)


def _remembered_bands(item: Remembered) -> Iterator[tuple[tuple[int, int], Candidate]]:
    if item.content_hash:
        value = int(item.content_hash, 16)
        for band in bands(value):
            yield band, Candidate((item.date, "", item.id), item.id, value, False)


def _first_in_group(keyed: tuple[tuple[int, int], Iterable[Candidate]]):
    yield from first_copies(keyed[1])


def _earliest(keyed: tuple[str, Iterable[tuple[tuple[str, str, str], str]]]) -> Iterator[tuple[str, str]]:
    article_id, firsts = keyed
    beam.metrics.Metrics.counter("memory", "near_duplicate").inc()
    yield article_id, min(firsts)[1]


class FindNearDuplicates(beam.PTransform):
    """(hashed ``Article``, ``Remembered``) → ``(id, duplicate_of)`` for the near-duplicates.

    ``date``: the date the articles are written under; None: each article's fetch date (WARC
    ingest, whose records fall on several dates)."""

    def __init__(self, date: str | None) -> None:
        super().__init__()
        self._date = date

    def expand(self, articles_and_memory):
        hashed, remembered = articles_and_memory
        current = hashed | "ArticleBands" >> beam.FlatMap(_article_bands, self._date)
        earlier = remembered | "RememberedBands" >> beam.FlatMap(_remembered_bands)
        return (
            (current, earlier)
            | "AllBands" >> beam.Flatten()
            | "GroupByBand" >> beam.GroupByKey()
            | "FirstInBand" >> beam.FlatMap(_first_in_group)
            | "GroupById" >> beam.GroupByKey()
            | "Earliest" >> beam.FlatMap(_earliest)
        )


def duplicate_json(pair: tuple[str, str]) -> str:
    return json.dumps({"id": pair[0], "duplicate_of": pair[1]})


def apply_duplicates(path: str, duplicate_of: dict[str, str]) -> bool:
    """Set ``duplicate_of`` in one article Parquet file; True when it had rows to change.

    Streams batch by batch into a file beside it, then replaces it: memory stays flat however
    many rows the file has. Schema and its metadata are kept as written.
    """
    with FileSystems.open(path) as handle:
        ids = pq.read_table(handle, columns=["id"]).column("id").to_pylist()
    if not any(i in duplicate_of for i in ids):
        return False
    rewritten = path + ".dup"
    with FileSystems.open(path) as source, FileSystems.create(rewritten) as target:
        reader = pq.ParquetFile(source)
        schema = reader.schema_arrow
        column = schema.get_field_index("duplicate_of")
        with pq.ParquetWriter(target, schema, compression="zstd") as writer:
            for batch in reader.iter_batches(batch_size=1000):
                old = batch.column(column).to_pylist()
                ids = batch.column(schema.get_field_index("id")).to_pylist()
                new = [duplicate_of.get(i, o) for i, o in zip(ids, old)]
                arrays = list(batch.columns)
                arrays[column] = pa.array(new, type=schema.field(column).type)
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
    FileSystems.delete([path])
    FileSystems.rename([rewritten], [path])
    return True


def _drop_seen(keyed: tuple[str, dict[str, list]]) -> Iterator[FeedEntry]:
    _, grouped = keyed
    entries = grouped["entry"]
    if grouped["seen"]:
        beam.metrics.Metrics.counter("memory", "seen_earlier").inc(len(entries))
        return
    yield from entries


class DropSeen(beam.PTransform):
    """Distinct ``FeedEntry`` → those not written under an earlier date."""

    def expand(self, entries_and_memory):
        entries, remembered = entries_and_memory
        return (
            {
                "entry": entries | "KeyEntries" >> beam.Map(lambda e: (e.id, e)),
                "seen": remembered | "KeySeen" >> beam.Map(lambda r: (r.id, r.date)),
            }
            | "JoinSeen" >> beam.CoGroupByKey()
            | "DropSeen" >> beam.FlatMap(_drop_seen)
        )


# Columns the memory reads; older partitions lack some (canonical_url: before schema 2).
MEMORY_COLUMNS = ("id", "content_hash", "url", "canonical_url")


def read_remembered(path: str) -> Iterator[Remembered]:
    """The ``Remembered`` rows of one article partition file, whatever schema version wrote it:
    columns it does not have are None."""
    date = path.rsplit("date=", 1)[-1].split("/", 1)[0]
    with FileSystems.open(path) as handle:
        parquet = pq.ParquetFile(handle)
        present = [c for c in MEMORY_COLUMNS if c in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(columns=present):
            rows = batch.to_pydict()
            for i, row_id in enumerate(rows["id"]):
                yield Remembered(
                    row_id,
                    rows["content_hash"][i] if "content_hash" in rows else None,
                    date,
                    rows["url"][i] if "url" in rows else None,
                    rows["canonical_url"][i] if "canonical_url" in rows else None,
                )


def _matched_files(pattern: str) -> Iterator[str]:
    for result in FileSystems.match([pattern]):
        for metadata in result.metadata_list:
            yield metadata.path


class ReadMemory(beam.PTransform):
    """File patterns of earlier article partitions → ``Remembered`` records."""

    def __init__(self, patterns: list[str]) -> None:
        super().__init__()
        self._patterns = patterns

    def expand(self, pbegin):
        return (
            pbegin
            | "EarlierPartitions" >> beam.Create(self._patterns, reshuffle=False)
            | "MatchFiles" >> beam.FlatMap(_matched_files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRemembered" >> beam.FlatMap(read_remembered)
        )


def _first_unseen(keyed: tuple[str, dict[str, list]]) -> Iterator[Article]:
    _, grouped = keyed
    articles = grouped["article"]
    if grouped["seen"]:
        beam.metrics.Metrics.counter("memory", "seen_earlier").inc(len(articles))
        return
    if not articles:
        return
    first = min(articles, key=lambda a: (a.fetched_at, a.final_url, a.text))
    if len(articles) > 1:
        beam.metrics.Metrics.counter("memory", "duplicate_in_run").inc(len(articles) - 1)
    yield first


def _article_key(article: Article) -> tuple[str, Article]:
    return article.id, article


def _seen_key(item: Remembered) -> tuple[str, str]:
    return item.id, item.date


class KeepFirstUnseen(beam.PTransform):
    """(``Article``, ``Remembered``) → one article per id (the first fetched), none for an id
    written under another date. For archives, where the same URL can be recorded many times and
    pages arrive without a feed stage that would have deduplicated them first."""

    def expand(self, articles_and_memory):
        articles, remembered = articles_and_memory
        return (
            {
                "article": articles | "KeyArticles" >> beam.Map(_article_key),
                "seen": remembered | "KeySeen" >> beam.Map(_seen_key),
            }
            | "JoinSeen" >> beam.CoGroupByKey()
            | "FirstUnseen" >> beam.FlatMap(_first_unseen)
        )


def _other_date(item: Remembered, dates: list[str]) -> bool:
    return item.date not in dates


class ForgetDates(beam.PTransform):
    """``Remembered`` → those not under one of ``dates`` (a side input): the partitions a run
    rewrites are replaced, not remembered."""

    def __init__(self, dates) -> None:
        super().__init__()
        self._dates = dates

    def expand(self, remembered):
        return remembered | "OtherDates" >> beam.Filter(_other_date, beam.pvalue.AsList(self._dates))


def link_key(url: str | None) -> str | None:
    """What makes two article links the same page: no scheme, no leading ``www.``."""
    return identity_key(url) if url else None


def link_hash(key: str) -> int:
    """A link key as 64 bits, the same in every process (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


def _link_keys(record: Article | Remembered) -> set[str]:
    """The keys of a record's feed link and canonical URL (one when they are the same page)."""
    return {link_key(record.url), link_key(record.canonical_url)} - {None}


def _remembered_link_hashes(item: Remembered) -> Iterator[int]:
    for key in _link_keys(item):
        yield link_hash(key)


class LinkSet(beam.CombineFn):
    """Link hashes → one sorted ``uint64`` array: 8 bytes a link, where a dict of the keys
    would take ~150 (a year of daily runs remembers millions of links)."""

    def create_accumulator(self) -> array:
        return array("Q")

    def add_input(self, acc: array, value: int) -> array:
        acc.append(value)
        return acc

    def merge_accumulators(self, accumulators) -> array:
        merged = array("Q")
        for acc in accumulators:
            merged.extend(acc)
        return merged

    def extract_output(self, acc: array) -> np.ndarray:
        return np.unique(np.frombuffer(acc, dtype=np.uint64)) if acc else np.zeros(0, np.uint64)


def seen_earlier(article: Article, links: np.ndarray) -> bool:
    """Whether the article's link or canonical URL is a link remembered from an earlier date
    (``links``: :class:`LinkSet`'s array). A false match needs two different links with the
    same 64-bit hash: with a million links remembered, about one run in 10^10 of 2,000 articles."""
    if not links.size:
        return False
    for key in _link_keys(article):
        value = np.uint64(link_hash(key))
        at = int(np.searchsorted(links, value))
        if at < links.size and links[at] == value:
            return True
    return False


def _keep_unseen(article: Article, links: np.ndarray) -> Iterator[Article]:
    if seen_earlier(article, links):
        beam.metrics.Metrics.counter("memory", "seen_earlier").inc()
        beam.metrics.Metrics.counter("memory", "seen_earlier:canonical_url").inc()
        return
    yield article


class DropSeenCanonical(beam.PTransform):
    """(``Article``, ``Remembered``) → the articles whose canonical URL or link was not written
    under an earlier date (by another id: ``DropSeen`` already took the same id out).

    The remembered links, all known before the run fetches anything, become one sorted array
    of 64-bit hashes: a side input each article is checked against as it comes. Joining the
    articles' links with them instead (before) made every article of the run wait at the join:
    the in-memory runner held them all, then wrote them on one core after the last page while
    the extraction processes sat idle, and its peak RSS grew with the number of articles."""

    def expand(self, articles_and_memory):
        articles, remembered = articles_and_memory
        links = (
            remembered
            | "RememberedLinks" >> beam.FlatMap(_remembered_link_hashes)
            | "LinkSet" >> beam.CombineGlobally(LinkSet())
        )
        return articles | "KeepUnseen" >> beam.FlatMap(_keep_unseen, beam.pvalue.AsSingleton(links))
