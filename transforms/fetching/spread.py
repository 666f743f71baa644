"""Spread article entries over fetch workers with the hosts interleaved.

Entries reach the fetch stage one feed after another, so one host's entries come together. The
fetch stage queues them per host and serves hosts in turn, but it holds only ``lookahead``
entries: a run whose feeds list hundreds of entries each (312 per host at N = 10,000 on the
benchmark site) put six hosts in that window, and the per-host spacing then held the whole
stage to a dozen pages a second while 26 hosts waited behind them.

``SpreadByHost`` replaces the plain Reshuffle in front of the fetch stage. Like Reshuffle it
groups by a key so that a distributed runner spreads the entries over workers, but the key is a
*round*: a host's first entry is in round 0, its second in round 1, and so on, each round's
hosts taken in groups of :data:`HOSTS_PER_GROUP`. The local runner hands groups on in the order
their keys first appeared, which turns host-by-host input into host-interleaved output (round 0
of the first 64 hosts, round 1 of the same hosts, …); on other runners the order is theirs, and
no group holds more than 64 entries, so a run of many hosts with one entry each still spreads.
The rounds are counted per worker: they decide the order only, never which entries are kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.transforms.util import ReshufflePerKey

from transforms.records import FeedEntry

# Hosts per group key. The fetch stage keeps 16 fetches in flight with at most 2 per host, and
# spaces request starts to one host; 64 hosts in turn keep it busy with room to spare, while a
# group stays small enough for a distributed runner to spread.
HOSTS_PER_GROUP = 64


class HostRounds:
    """Group keys ``(round, group)`` for entries seen one at a time."""

    def __init__(self, hosts_per_group: int = HOSTS_PER_GROUP) -> None:
        self._per_group = hosts_per_group
        self._rank: Counter[str] = Counter()  # entries seen per host
        self._hosts_in_round: Counter[int] = Counter()  # hosts seen per round

    def key(self, host: str) -> tuple[int, int]:
        rank = self._rank[host]
        self._rank[host] = rank + 1
        group = self._hosts_in_round[rank] // self._per_group
        self._hosts_in_round[rank] += 1
        return rank, group


class _KeyByRoundFn(beam.DoFn):
    def __init__(self, host_of) -> None:
        self._host_of = host_of

    def setup(self) -> None:
        self._rounds = HostRounds()

    def process(self, entry: FeedEntry) -> Iterator[tuple[tuple[int, int], FeedEntry]]:
        yield self._rounds.key(self._host_of(entry.url)), entry


def _entry(keyed: tuple[tuple[int, int], FeedEntry]) -> FeedEntry:
    return keyed[1]


class SpreadByHost(beam.PTransform):
    """``FeedEntry`` → the same entries, spread over workers, hosts interleaved (see above).
    ``host_of(url)`` names the host that per-host politeness counts by."""

    def __init__(self, host_of) -> None:
        super().__init__()
        self._host_of = host_of

    def expand(self, entries):
        return (
            entries
            | "KeyByRound" >> beam.ParDo(_KeyByRoundFn(self._host_of))
            # ReshufflePerKey keeps each entry's timestamp and window, as Reshuffle does.
            | "GroupRounds" >> ReshufflePerKey()
            | "DropRound" >> beam.Map(_entry)
        )
