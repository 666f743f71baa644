"""Entries regrouped before the fetch stage: every entry kept once, hosts interleaved."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.fetching.fetch import host_of
from transforms.fetching.spread import HOSTS_PER_GROUP, HostRounds, SpreadByHost
from transforms.records import FeedEntry
from transforms.sources.canonicalize import article_id


def _entry(url: str) -> FeedEntry:
    return FeedEntry(feed_url="http://feed", feed_name="F", link=url, url=url, id=article_id(url))


def test_rounds_count_entries_per_host_and_hosts_per_round() -> None:
    rounds = HostRounds(hosts_per_group=2)
    keys = [rounds.key(h) for h in "aaabbcccd"]
    # a: rounds 0-2; b: rounds 0-1; c is the third host of rounds 0-2, so group 1; d: round 0,
    # fourth host there, group 1.
    assert keys == [(0, 0), (1, 0), (2, 0), (0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (0, 1)]


def test_rounds_of_interleaved_input_stay_in_one_group_per_round() -> None:
    rounds = HostRounds()
    keys = [rounds.key(f"h{h}") for _ in range(3) for h in range(HOSTS_PER_GROUP)]
    assert set(keys) == {(0, 0), (1, 0), (2, 0)}
    keys = [rounds.key(f"other{h}") for h in range(HOSTS_PER_GROUP + 1)]  # new hosts, round 0
    assert keys.count((0, 1)) == HOSTS_PER_GROUP and keys[-1] == (0, 2)


def _record(entry: FeedEntry, path: str) -> str:
    with open(path, "a", encoding="utf-8") as out:  # the local runner calls this in order
        out.write(host_of(entry.url) + "\n")
    return entry.url


def test_host_by_host_input_leaves_interleaved_with_nothing_lost(tmp_path) -> None:
    # Three feeds one after the other, as the feed stage emits them, one URL listed twice.
    urls = [f"http://h{h}.test/{i}" for h in range(3) for i in range(4)] + ["http://h0.test/0"]
    order = tmp_path / "order.txt"
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([_entry(u) for u in urls], reshuffle=False)
            | SpreadByHost(host_of)
            | beam.Map(_record, str(order))
        )
        assert_that(out, equal_to(urls))  # each entry once: duplicates are not this stage's job
    hosts = order.read_text().split()
    assert hosts[:6] == ["h0.test", "h1.test", "h2.test"] * 2


def test_one_entry_per_host_is_split_into_small_groups() -> None:
    # 1,000 hosts with one entry each: a key per 64 hosts, so a distributed runner can spread
    # them; a single round-0 key would send all of them to one worker.
    rounds = HostRounds()
    keys = {rounds.key(f"site{i}.test") for i in range(1000)}
    assert len(keys) == -(-1000 // HOSTS_PER_GROUP)
