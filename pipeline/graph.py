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
    HashContent,
    ReadMemory,
    duplicate_json,
)
from transforms.records import FeedSpec, FeedStatus
from transforms.storage.sink import WriteArticles, WriteDeadLetters
from transforms.enrichment.topic import ClassifyTopics


class Outputs(NamedTuple):
    articles: beam.PCollection  # with content_hash; duplicate_of is set after the run
    duplicates: beam.PCollection  # (id, duplicate_of) of this run's near-duplicates
    dead: beam.PCollection
    statuses: beam.PCollection


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


def enrich(
    unseen: beam.PCollection, cfg: RunConfig, spread: bool = True
) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Entries to fetch → classified articles and each stage's dead letters.

    The one chain of article stages; ``run`` and ``stream`` differ only around it.
    """
    pages, dead_fetch = unseen | "FetchArticles" >> FetchArticles(cfg.fetch, spread=spread)
    extracted, dead_extract = pages | "Extract" >> ExtractArticles(cfg.extract)
    cleaned, dead_clean = extracted | "Clean" >> CleanArticles(cfg.clean.rules)
    languaged, dead_language = cleaned | "DetectLanguage" >> DetectLanguage()
    classified, dead_topic = languaged | "ClassifyTopics" >> ClassifyTopics(cfg.topic.model)
    return classified, [dead_fetch, dead_extract, dead_clean, dead_language, dead_topic]


def build_articles(p: beam.Pipeline, cfg: RunConfig, plan: RunPlan) -> Outputs:
    """Feeds → enriched articles, plus the dead letters of every stage and each feed's status."""
    specs = p | "ReadFeedList" >> beam.Create(plan.feeds, reshuffle=False)
    entries, dead_feeds, statuses = specs | "FetchFeeds" >> FetchFeeds(
        cfg.feed_fetch, plan.feed_cache_dir
    )
    distinct, dead_links = entries | "Canonicalize" >> CanonicalizeEntries()
    remembered = p | "ReadMemory" >> ReadMemory(plan.memory)
    unseen = (distinct, remembered) | "DropSeenEarlier" >> DropSeen()
    classified, dead_stages = enrich(unseen, cfg)
    # An AMP or mobile link today to a page written yesterday under its original link.
    fresh = (classified, remembered) | "DropSeenCanonical" >> DropSeenCanonical()
    articles = fresh | "HashContent" >> HashContent()
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
