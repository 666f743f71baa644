"""Work handed to pools: fetch slots spread over hosts, and extraction in worker processes."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future

import pytest

from tests.conftest import run_dofn
from transforms.sources.canonicalize import article_id
from transforms.text.extract import POOL_AFTER_PAGES, ExtractConfig, _ExtractFn, extract_outcome
from transforms.fetching.fetch import FetchConfig, HostQueue, _FetchFn
from transforms.fetching.http import HttpConfig
from apache_beam.transforms.window import GlobalWindow

from transforms.fetching.inflight import InFlight
from transforms.records import Article, DeadLetter, FeedEntry, FetchedPage, utc_now

PARAGRAPH = (
    "Der Stadtrat hat am Dienstag nach langer Debatte beschlossen, die alte Brücke über den Fluss "
    "zu sanieren und für Radfahrer breiter zu machen. Die Arbeiten sollen im Frühjahr beginnen. "
)


def _entry(url: str) -> FeedEntry:
    return FeedEntry(feed_url="http://feed", feed_name="F", link=url, url=url, id=article_id(url))


def _page(url: str, paragraphs: int = 6) -> FetchedPage:
    body = "".join(f"<p>{PARAGRAPH}{i}</p>" for i in range(paragraphs))
    html = f"<html><head><title>Brücke {url}</title></head><body><article><h1>Brücke</h1>{body}</article></body></html>"
    return FetchedPage(_entry(url), url, 200, "text/html", "utf-8", html.encode(), utc_now())


def test_host_queue_takes_hosts_in_turn() -> None:
    queue = HostQueue()
    for host, n in (("a", 3), ("b", 2), ("c", 1)):
        for i in range(n):
            queue.put(host, f"{host}{i}")
    assert len(queue) == 6
    assert [queue.pop(lambda h: True) for _ in range(6)] == ["a0", "b0", "c0", "a1", "b1", "a2"]
    assert queue.pop(lambda h: True) is None
    queue.put("a", "a9")
    queue.put("b", "b9")
    assert queue.pop(lambda h: h != "a") == "b9"  # a busy host is passed over, not waited for
    assert queue.pop(lambda h: False) is None
    assert len(queue) == 1


def test_in_flight_hands_out_finished_work_first() -> None:
    pending = InFlight()
    slow, fast = Future(), Future()
    pending.add(slow, 1, "w", "slow")
    pending.add(fast, 2, "w", "fast")
    assert pending.next_done(block=False) is None
    fast.set_result("page")
    item = pending.next_done(block=False)
    assert (item.element, item.windowed(item.future.result()).timestamp.micros) == ("fast", 2_000_000)
    slow.set_result("other")
    assert pending.next_done(block=True).element == "slow"
    assert not pending and pending.next_done(block=True) is None


def test_fetch_slots_are_spread_over_hosts_when_entries_come_host_by_host() -> None:
    # Four feeds' entries arrive one feed after another. With 2 fetches per host allowed, all 8
    # slots can only be busy at once if the stage looks past the first host's entries: the first
    # 8 fetches wait at a barrier of 8 (it breaks, failing those fetches, if fewer ever run).
    cfg = FetchConfig(http=HttpConfig(allow_private_hosts=True), concurrency=8, per_host=2,
                      per_host_delay=0, respect_robots=False)
    barrier = threading.Barrier(8, timeout=30)
    live: dict[str, int] = {}
    most = {"total": 0, "host": 0}
    guard = threading.Lock()
    fn = _FetchFn(cfg)

    def fake_fetch(entry: FeedEntry):
        host = entry.url.split("/")[2]
        with guard:
            live[host] = live.get(host, 0) + 1
            most["total"] = max(most["total"], sum(live.values()))
            most["host"] = max(most["host"], live[host])
        if barrier.n_waiting < 8 and not barrier.broken and most["total"] <= 8:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        with guard:
            live[host] -= 1
        return FetchedPage(entry, entry.url, 200, "text/html", None, b"<html></html>", utc_now())

    fn._fetch_one = fake_fetch
    entries = [_entry(f"http://h{h}.test/{i}") for h in range(4) for i in range(10)]
    out = run_dofn(fn, entries)
    assert not barrier.broken
    assert most == {"total": 8, "host": 2}
    assert sorted(v.entry.url for _, v in out) == sorted(e.url for e in entries)


def test_extraction_in_processes_matches_inline() -> None:
    pages = [_page(f"http://site.test/{i}") for i in range(6)]
    empty = _page("http://site.test/empty")
    pages.append(FetchedPage(empty.entry, empty.final_url, 200, "text/html", "utf-8",
                             b"<html><body></body></html>", empty.fetched_at))  # no text: dead letter
    inline = run_dofn(_ExtractFn(ExtractConfig()), pages)
    pooled = run_dofn(_ExtractFn(ExtractConfig(processes=2)), pages, after_setup=_pool_up)

    def key(item):
        tag, value = item
        if isinstance(value, Article):
            return (str(tag), value.url, value.title, value.text)
        return (str(tag), value.url, value.stage, value.error_type)

    assert sorted(map(key, pooled)) == sorted(map(key, inline))
    assert sum(isinstance(v, DeadLetter) for _, v in pooled) == 1
    assert sum(isinstance(v, Article) for _, v in pooled) == 6


def _pool_up(fn: _ExtractFn) -> None:
    fn._pool.warm_up()  # as the stage does after POOL_AFTER_PAGES pages
    assert fn._pool.wait_ready(timeout=60)


def test_extraction_works_inline_until_its_processes_are_up() -> None:
    # The first POOL_AFTER_PAGES - 1 pages are extracted in the stage's own process, in the call
    # that brought them, and start no child; the next one starts the children, and pages go to
    # them once they are up (a run of a few pages never waits for processes).
    fn = _ExtractFn(ExtractConfig(processes=2))
    fn.setup()
    fn.start_bundle()
    for i in range(POOL_AFTER_PAGES - 1):
        out = list(fn.process(_page(f"http://site.test/{i}"), 0, GlobalWindow()))
        assert [type(v) for v in out] == [Article] and not fn._pending
    assert fn._pool._pool is None  # no child was ever started
    out = list(fn.process(_page("http://site.test/last-inline"), 0, GlobalWindow()))
    assert [type(v) for v in out] == [Article]  # inline still: the children are starting
    assert fn._pool.wait_ready(timeout=60)
    out = list(fn.process(_page("http://site.test/pooled"), 0, GlobalWindow()))
    out += list(fn.finish_bundle())
    assert [type(v.value) for v in out] == [Article]  # from the pool, with its window
    fn.teardown()


def test_a_pool_whose_children_never_started_leaves_the_stage_inline(caplog) -> None:
    from concurrent.futures.process import BrokenProcessPool

    fn = _ExtractFn(ExtractConfig(processes=2))
    fn.setup()
    died = Future()
    died.set_exception(BrokenProcessPool("a child terminated abruptly"))
    fn._pool._started = [died, died]  # what warm_up leaves when the children died at start
    fn.start_bundle()
    with caplog.at_level("WARNING"):
        out = list(fn.process(_page("http://site.test/0"), 0, GlobalWindow()))
    assert [type(v) for v in out] == [Article] and fn._pool is None
    assert "if __name__ == '__main__':" in caplog.text
    fn.teardown()


def crash_on_marked_pages(page: FetchedPage, cfg: ExtractConfig):
    """Dies like a segfaulting parser would on pages whose URL says so."""
    if "crash" in page.entry.url:
        os._exit(70)
    return extract_outcome(page, cfg)


def test_a_page_that_kills_its_process_becomes_a_dead_letter_and_others_survive() -> None:
    fn = _ExtractFn(ExtractConfig(processes=2))
    fn._submit = lambda page: fn._pool.submit(crash_on_marked_pages, page, fn._cfg)
    pages = [_page(f"http://site.test/{i}") for i in range(5)]
    pages.insert(2, _page("http://site.test/crash"))
    out = run_dofn(fn, pages, after_setup=_pool_up)
    dead = [v for _, v in out if isinstance(v, DeadLetter)]
    assert [(d.url, d.stage, d.error_type) for d in dead] == [
        ("http://site.test/crash", "extract", "extract_crashed")
    ]
    assert sorted(v.url for _, v in out if isinstance(v, Article)) == sorted(
        p.entry.url for p in pages if "crash" not in p.entry.url
    )
    assert fn._pool.restarts >= 2


@pytest.mark.parametrize(
    ("workers", "args", "processes"),
    [
        (1, [], 0),
        (2, [], 2),
        (2, ["--runner=DirectRunner"], 2),
        (2, ["--runner", "BundleBasedDirectRunner"], 2),
        (4, ["--runner=DataflowRunner", "--project=p"], 0),  # Dataflow runs a worker per core
        (2, ["--runner", "FlinkRunner"], 0),
    ],
)
def test_workers_set_extraction_processes_on_the_local_runner(workers, args, processes) -> None:
    from pipeline.commands import with_workers
    from pipeline.config import RunConfig

    assert with_workers(RunConfig(), workers, args).extract.processes == processes


UNGUARDED_SCRIPT = '''
import apache_beam as beam
from transforms.records import FeedEntry, FetchedPage, utc_now
from transforms.text.extract import ExtractArticles, ExtractConfig

body = ("<html><head><title>T</title></head><body><article><h1>Harbour</h1>"
        + "<p>The council approved the harbour budget after a long debate about energy.</p>" * 8
        + "</article></body></html>").encode()
pages = [FetchedPage(FeedEntry(feed_url="f", feed_name="F", link=f"http://s.test/{i}",
                               url=f"http://s.test/{i}", id=str(i)),
                     f"http://s.test/{i}", 200, "text/html", "utf-8", body, utc_now()) for i in range(12)]
with beam.Pipeline() as p:
    ok, dead = p | beam.Create(pages) | ExtractArticles(ExtractConfig(processes=2))
    ok | "CountOk" >> beam.combiners.Count.Globally() | "PrintOk" >> beam.Map(lambda n: print("articles", n))
'''


def test_a_script_without_a_main_guard_still_gets_its_articles_and_is_told_why(tmp_path) -> None:
    # Pool children import the parent's script; this one runs a pipeline at import. The
    # children refuse to start a pool of their own (they would run the user's pipeline again)
    # and say what to change; the parent's stage extracts every page itself.
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n").count("articles 12") == 1
    assert "under `if __name__ == '__main__':`" in done.stderr


def test_host_queue_pop_soonest_takes_the_earliest_host() -> None:
    queue = HostQueue()
    for host in ("a", "b", "c"):
        queue.put(host, f"{host}0")
    when = {"a": 5.0, "b": 2.0, "c": 2.0}
    assert queue.pop_soonest(lambda h: True, when.__getitem__) == "b0"  # first in turn among equals
    assert queue.pop_soonest(lambda h: h != "c", when.__getitem__) == "a0"
    assert queue.pop_soonest(lambda h: False, when.__getitem__) is None
    assert len(queue) == 1


def test_fetch_slots_go_to_hosts_that_may_start_now() -> None:
    # h0 and h1 were asked moments ago and must wait out their spacing; h2 may start at once.
    # A slot given to h0 in plain turn would sleep through the wait while h2 stood by.
    cfg = FetchConfig(http=HttpConfig(allow_private_hosts=True), concurrency=1, per_host=2,
                      per_host_delay=5, respect_robots=False)
    fn = _FetchFn(cfg)
    fn.setup()
    started: list[str] = []
    try:
        fn.start_bundle()
        fn._pool.submit = lambda _fetch, entry: started.append(entry.url) or Future()
        for host in ("h0.test", "h1.test"):
            fn._throttle.reserve(host, 5)
        for host in ("h0.test", "h1.test", "h2.test"):
            fn._queue.put(host, (_entry(f"http://{host}/a"), 0, GlobalWindow()))
        fn._start_fetches()
        assert started == ["http://h2.test/a"]
        # Nothing may start now: the slot goes to the host whose turn comes first.
        fn._pending = InFlight()
        fn._busy.clear()
        fn._throttle.reserve("h1.test", 5)  # h1's next turn is now later than h0's
        fn._start_fetches()
        assert started[1:] == ["http://h0.test/a"]
    finally:
        fn.teardown()
