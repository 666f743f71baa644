"""The pipeline graph: stages wired in order, dead letters of every stage merged.

``build`` knows the order of the stages and which config section each one gets; it holds no
per-element logic (that lives in ``transforms/``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple

import apache_beam as beam

from pipeline.config import RunConfig
from transforms.sources.canonicalize import CanonicalizeEntries
from transforms.text.clean import CleanArticles
from transforms.text.extract import ExtractArticles
from transforms.sources.feeds import FetchFeeds
from transforms.fetching.fetch import FetchArticles
from transforms.enrichment.language import DetectLanguage
from transforms.storage.memory import (
    DropSeen,
    DropSeenCanonical,
    FindNearDuplicates,
    ForgetDates,
    HashContent,
    KeepFirstUnseen,
    ReadMemory,
    duplicate_json,
)
from transforms.records import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    UTC,
    Article,
    DeadLetter,
    FeedSpec,
    FeedStatus,
)
from transforms.sources.warc import ReadWarcFiles, WarcConfig
from transforms.storage.archive import WriteArchive
from transforms.storage.sink import WriteArticles, WriteDated, WriteDeadLetters
from transforms.enrichment.topic import ClassifyTopics


class Outputs(NamedTuple):
    articles: beam.PCollection  # with content_hash; duplicate_of is set after the run
    duplicates: beam.PCollection  # (id, duplicate_of) of this run's near-duplicates
    dead: beam.PCollection
    statuses: beam.PCollection


class ArchivePlan(NamedTuple):
    """Where a run's WARC files go: a folder of its staging area, published with the run."""

    directory: str
    prefix: str
    temp_directory: str


class RunPlan(NamedTuple):
    """What one run reads and writes, decided by the application before the graph is built."""

    date: str
    feeds: list[FeedSpec]  # with validators from the feed state
    memory: list[str]  # file patterns of the article partitions of the other dates
    articles_prefix: str
    dead_prefix: str
    status_prefix: str
    feed_cache_dir: str | None
    duplicates_prefix: str = ""  # (id, duplicate_of) lines, applied to the articles after the run
    archive: ArchivePlan | None = None  # None: no WARC archive


def article_stages(
    pages: beam.PCollection, cfg: RunConfig
) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Fetched pages → classified articles and each stage's dead letters.

    The one chain of article stages: pages fetched live and pages read from WARC archives
    (``run --warc``, ``reprocess``) go through the same steps.
    """
    extracted, dead_extract = pages | "Extract" >> ExtractArticles(cfg.extract)
    cleaned, dead_clean = extracted | "Clean" >> CleanArticles(cfg.clean.rules)
    languaged, dead_language = cleaned | "DetectLanguage" >> DetectLanguage()
    classified, dead_topic = languaged | "ClassifyTopics" >> ClassifyTopics(cfg.topic.model)
    return classified, [dead_extract, dead_clean, dead_language, dead_topic]


def enrich(
    unseen: beam.PCollection, cfg: RunConfig, spread: bool = True,
    archive: beam.PTransform | None = None,
) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Entries to fetch → classified articles and each stage's dead letters; with ``archive``
    (a WARC writer), every answer received also goes to it.

    ``run`` and ``stream`` differ only around it.
    """
    if archive is not None:
        pages, dead_fetch, raw = unseen | "FetchArticles" >> FetchArticles(
            cfg.fetch, spread=spread, archive=True
        )
        raw | "Archive" >> archive
    else:
        pages, dead_fetch = unseen | "FetchArticles" >> FetchArticles(cfg.fetch, spread=spread)
    classified, dead_stages = article_stages(pages, cfg)
    return classified, [dead_fetch, *dead_stages]


def build_articles(p: beam.Pipeline, cfg: RunConfig, plan: RunPlan) -> Outputs:
    """Feeds → enriched articles, plus the dead letters of every stage and each feed's status."""
    specs = p | "ReadFeedList" >> beam.Create(plan.feeds, reshuffle=False)
    entries, dead_feeds, statuses = specs | "FetchFeeds" >> FetchFeeds(
        cfg.feed_fetch, plan.feed_cache_dir
    )
    distinct, dead_links = entries | "Canonicalize" >> CanonicalizeEntries()
    remembered = p | "ReadMemory" >> ReadMemory(plan.memory)
    unseen = (distinct, remembered) | "DropSeenEarlier" >> DropSeen()
    archive = WriteArchive(*plan.archive) if plan.archive else None
    classified, dead_stages = enrich(unseen, cfg, archive=archive)
    # Hashed before the join below: stages after a grouping run only once every page is
    # extracted, on one core of the local runner, while the extraction processes wait.
    hashed = classified | "HashContent" >> HashContent()
    # An AMP or mobile link today to a page written yesterday under its original link.
    articles = (hashed, remembered) | "DropSeenCanonical" >> DropSeenCanonical()
    duplicates = (articles, remembered) | "FindNearDuplicates" >> FindNearDuplicates(plan.date)
    dead = (dead_feeds, dead_links, *dead_stages) | "MergeDeadLetters" >> beam.Flatten()
    return Outputs(articles, duplicates, dead, statuses)


def _status_json(status: FeedStatus) -> str:
    return json.dumps(dataclasses.asdict(status), sort_keys=True)


def build(p: beam.Pipeline, cfg: RunConfig, plan: RunPlan) -> Outputs:
    """The whole batch graph, sinks included."""
    outputs = build_articles(p, cfg, plan)
    outputs.articles | "WriteArticles" >> WriteArticles(plan.articles_prefix)
    (
        outputs.duplicates
        | "DuplicateToJson" >> beam.Map(duplicate_json)
        | "WriteDuplicates" >> beam.io.WriteToText(plan.duplicates_prefix, file_name_suffix=".jsonl")
    )
    outputs.dead | "WriteDeadLetters" >> WriteDeadLetters(plan.dead_prefix)
    (
        outputs.statuses
        | "StatusToJson" >> beam.Map(_status_json)
        | "WriteFeedStatus" >> beam.io.WriteToText(plan.status_prefix, file_name_suffix=".jsonl", num_shards=1)
    )
    return outputs


class WarcPlan(NamedTuple):
    """What a run over WARC files (``run --warc``, ``reprocess``) reads and writes."""

    files: list[str]  # one element per file
    warc: WarcConfig
    date: str | None  # every row under this date; None: under its record's date
    memory: list[str]  # file patterns of every article partition (those rewritten are ignored)
    articles_dir: str  # flat folders of <date>~<prefix>-….parquet files (see WriteDated)
    dead_dir: str
    prefix: str
    temp_dir: str
    duplicates_prefix: str


def _dated_article(article: Article, date: str | None) -> tuple[str, Article]:
    return date or article.fetched_at.astimezone(UTC).date().isoformat(), article


def _second(pair: tuple[str, str]) -> str:
    return pair[1]


def _letter_url(letter: DeadLetter) -> tuple[str, DeadLetter]:
    return letter.url, letter


def _dated_letters(keyed: tuple[str, dict[str, list]], date: str | None):
    _, grouped = keyed
    dates = grouped["date"]
    for letter in grouped["letter"]:
        yield date or (min(dates) if dates else letter.failed_at.date().isoformat()), letter


def build_warc(p: beam.Pipeline, cfg: RunConfig, plan: WarcPlan) -> beam.PCollection:
    """WARC files → the same article stages as a feed run, rows written under their dates;
    returns the near-duplicate pairs' PCollection."""
    files = p | "ListWarcFiles" >> beam.Create(plan.files, reshuffle=False)
    pages, dead_read, dates = files | "ReadWarc" >> ReadWarcFiles(plan.warc, plan.date)
    classified, dead_stages = article_stages(pages, cfg)
    run_dates = dates | "RecordDates" >> beam.Map(_second) | "DistinctDates" >> beam.Distinct()
    remembered = p | "ReadMemory" >> ReadMemory(plan.memory)
    others = remembered | "ForgetRewritten" >> ForgetDates(run_dates)
    # Hashed before the joins, as in build_articles.
    hashed = classified | "HashContent" >> HashContent()
    unique = (hashed, others) | "KeepFirstUnseen" >> KeepFirstUnseen()
    articles = (unique, others) | "DropSeenCanonical" >> DropSeenCanonical()
    duplicates = (articles, others) | "FindNearDuplicates" >> FindNearDuplicates(plan.date)
    (
        articles
        | "DateArticles" >> beam.Map(_dated_article, plan.date)
        | "WriteArticles" >> WriteDated(plan.articles_dir, plan.prefix, ARTICLE_SCHEMA, plan.temp_dir)
    )
    dead = (dead_read, *dead_stages) | "MergeDeadLetters" >> beam.Flatten()
    (
        {"letter": dead | "KeyLetters" >> beam.Map(_letter_url), "date": dates}
        | "JoinDates" >> beam.CoGroupByKey()
        | "DateLetters" >> beam.FlatMap(_dated_letters, plan.date)
        | "WriteDeadLetters" >> WriteDated(plan.dead_dir, plan.prefix, DEAD_LETTER_SCHEMA, plan.temp_dir)
    )
    (
        duplicates
        | "DuplicateToJson" >> beam.Map(duplicate_json)
        | "WriteDuplicates" >> beam.io.WriteToText(plan.duplicates_prefix, file_name_suffix=".jsonl")
    )
    return duplicates
