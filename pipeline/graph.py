"""The pipeline graph: stages wired in order, dead letters of every stage merged.

``build`` knows the order of the stages and which config section each one gets; it holds no
per-element logic (that lives in ``transforms/``).
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam

from pipeline.config import RunConfig
from transforms.canonicalize import CanonicalizeEntries
from transforms.clean import CleanArticles
from transforms.extract import ExtractArticles
from transforms.feeds import FetchFeeds
from transforms.fetch import FetchArticles
from transforms.language import DetectLanguage
from transforms.sink import WriteArticles, WriteDeadLetters
from transforms.topic import ClassifyTopics


class Outputs(NamedTuple):
    articles: beam.PCollection
    dead: beam.PCollection


def build_articles(p: beam.Pipeline, cfg: RunConfig) -> Outputs:
    """Feeds → enriched articles, plus the dead letters of every stage."""
    specs = p | "ReadFeedList" >> beam.Create([f.to_spec() for f in cfg.feeds], reshuffle=False)
    entries, dead_feeds = specs | "FetchFeeds" >> FetchFeeds(cfg.feed_fetch)
    distinct, dead_links = entries | "Canonicalize" >> CanonicalizeEntries()
    pages, dead_fetch = distinct | "FetchArticles" >> FetchArticles(cfg.fetch)
    extracted, dead_extract = pages | "Extract" >> ExtractArticles(cfg.extract)
    cleaned, dead_clean = extracted | "Clean" >> CleanArticles(cfg.clean.rules)
    languaged, dead_language = cleaned | "DetectLanguage" >> DetectLanguage()
    articles, dead_topic = languaged | "ClassifyTopics" >> ClassifyTopics(cfg.topic.model)
    dead = (
        dead_feeds, dead_links, dead_fetch, dead_extract, dead_clean, dead_language, dead_topic
    ) | "MergeDeadLetters" >> beam.Flatten()
    return Outputs(articles, dead)


def build(p: beam.Pipeline, cfg: RunConfig, articles_prefix: str, dead_prefix: str) -> Outputs:
    """The whole batch graph, sinks included."""
    outputs = build_articles(p, cfg)
    outputs.articles | "WriteArticles" >> WriteArticles(articles_prefix)
    outputs.dead | "WriteDeadLetters" >> WriteDeadLetters(dead_prefix)
    return outputs
