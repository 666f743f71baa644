"""Daily runs against a loopback site whose feed gains and repeats items.

Covers: only new articles on the next date, identical re-runs, near-duplicates, a run killed
mid-way then re-run, two runs at once, conditional GET (304) and a stale validator, JSON Feed and
news sitemaps, run manifests whose counters add up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from pipeline.cli import EXIT_LOCKED, EXIT_OK, main
from pipeline.demo_server import SiteServer

SENTENCES = [
    "The harbour authority confirmed the new ferry schedule on Monday morning.",
    "Council members argued for hours about the cost of the bridge repairs.",
    "Local farmers reported an unusually late harvest after weeks of rain.",
    "A new library branch opened in the eastern district with extended hours.",
    "Researchers at the university published a study on coastal erosion.",
    "The football club announced the signing of a young midfielder from abroad.",
    "Shop owners said higher energy prices had cut deeply into their margins.",
    "The regional hospital will add forty beds to its intensive care unit.",
    "Police asked witnesses of the overnight collision to come forward.",
    "An exhibition of early photographs drew record crowds at the museum.",
    "Engineers began testing the upgraded signalling system on the northern line.",
    "The school board approved a plan to hire more language teachers next year.",
    "Volunteers cleaned two kilometres of beach over the weekend.",
    "The mayor said talks with the bus drivers' union would resume on Thursday.",
    "A small software company moved its headquarters into the old brewery.",
    "Residents complained about noise from the construction site near the station.",
    "The weather service expects the first frost of the season by Friday.",
    "Economists warned that the town's budget gap could widen next spring.",
    "The orchestra will tour four cities before returning for the winter concerts.",
    "Inspectors found the water quality in the reservoir to be excellent.",
]


def story(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(SENTENCES, 5)) for _ in range(4)]


def page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"</head><body><article><h1>{title}</h1>{body}</article></body></html>")


def rss(items: list[str]) -> str:
    entries = "".join(
        f"<item><title>Story {i}</title><link>{{base}}/news/{i}.html</link><guid>{i}</guid>"
        f"<pubDate>Mon, 23 Nov 2026 0{n % 9}:00:00 GMT</pubDate></item>"
        for n, i in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Times</title>{entries}</channel></rss>'


class Site:
    """A loopback news site whose feed the test rewrites between runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "news").mkdir(parents=True)
        for i in range(1, 9):
            (root / "news" / f"{i}.html").write_text(page(f"Story {i}", story(i)))
        # Story 7 is story 1 with one word changed: the same wire copy on another page.
        near = story(1)
        near[0] = near[0].replace("the", "a", 1)
        (root / "news" / "7.html").write_text(page("Story 7", near))
        (root / "_routes.json").write_text("{}")
        self.server = SiteServer(root)

    def feed(self, items: list[int]) -> None:
        (self.root / "feed.xml").write_text(rss([str(i) for i in items]))

    @property
    def feed_url(self) -> str:
        return self.server.url("/feed.xml")


@pytest.fixture()
def site(tmp_path: Path):
    s = Site(tmp_path / "site")
    with s.server:
        yield s


def run(site: Site, out: Path, date: str, *extra: str) -> int:
    return main(["run", "--feed", site.feed_url, "--output", str(out), "--date", date,
                 "--allow-private-hosts", *extra])


def rows(out: Path, date: str | None = None) -> list[dict]:
    table = ds.dataset(out / "articles", format="parquet", partitioning="hive").to_table()
    found = [r for r in table.to_pylist() if date is None or str(r["date"]) == date]
    return sorted(found, key=lambda r: r["url"])


def manifests(out: Path, date: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "_runs" / f"date={date}").glob("*.json"))]


def stable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "fetched_at"}


def story_ids(found: list[dict]) -> list[str]:
    return [r["url"].rsplit("/", 1)[-1].removesuffix(".html") for r in found]


def test_next_day_writes_only_new_articles_and_reruns_are_identical(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2, 3])
    assert run(site, out, "2026-11-23") == EXIT_OK
    assert story_ids(rows(out, "2026-11-23")) == ["1", "2", "3"]

    site.feed([2, 3, 4, 7])  # 2 and 3 repeat; 7 is a near-copy of 1
    assert run(site, out, "2026-11-24") == EXIT_OK
    day2 = rows(out, "2026-11-24")
    assert story_ids(day2) == ["4", "7"]
    first = {r["url"]: r["id"] for r in rows(out, "2026-11-23")}
    near = day2[1]
    assert near["duplicate_of"] == first[site.server.url("/news/1.html")]
    assert day2[0]["duplicate_of"] is None
    assert all(len(r["content_hash"]) == 16 for r in day2)

    (m2,) = manifests(out, "2026-11-24")
    c = m2["counters"]
    assert (c["entries"], c["written"], c["duplicate"], c["filtered"], c["dead_letter"]) == (4, 2, 2, 0, 0)
    assert c["entries"] == c["written"] + c["duplicate"] + c["filtered"] + c["dead_letter"]
    assert m2["feeds"] == {"total": 1, "ok": 1, "failed": [], "failed_reasons": {}, "skipped": {}}
    assert m2["newsbeam_version"] and m2["config_hash"] and m2["started_at"] <= m2["finished_at"]

    assert run(site, out, "2026-11-24") == EXIT_OK  # re-run of the same date
    assert [stable(r) for r in rows(out, "2026-11-24")] == [stable(r) for r in day2]
    assert len(list((out / "articles" / "date=2026-11-24").iterdir())) == 1
    assert len(manifests(out, "2026-11-24")) == 2
    assert story_ids(rows(out, "2026-11-23")) == ["1", "2", "3"]  # earlier date untouched


def test_backfill_dedupes_against_every_other_date(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    assert run(site, out, "2026-11-24") == EXIT_OK
    site.feed([1, 2, 3])
    assert run(site, out, "2026-11-20") == EXIT_OK  # a past date: later dates are memory too
    assert story_ids(rows(out, "2026-11-20")) == ["3"]
    assert story_ids(rows(out, "2026-11-24")) == ["1", "2"]


def test_not_modified_feed_is_served_from_the_cache(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    assert run(site, out, "2026-11-24") == EXIT_OK
    before = rows(out)
    assert run(site, out, "2026-11-24") == EXIT_OK
    assert site.server.not_modified == ["/feed.xml"]
    (_, second) = manifests(out, "2026-11-24")
    assert second["beam_counters"]["feeds/not_modified"] == 1
    assert [stable(r) for r in rows(out)] == [stable(r) for r in before]


def test_stale_validator_is_not_trusted_past_a_day(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.server.routes["/feed.xml"] = {"etag": "stale"}
    site.feed([1])
    assert run(site, out, "2026-11-23") == EXIT_OK
    site.feed([1, 2])  # new item, but the server keeps answering 304 to the old ETag
    assert run(site, out, "2026-11-24") == EXIT_OK
    assert story_ids(rows(out, "2026-11-24")) == []  # within the day the validator is used
    state_file = out / "_state" / "feeds.json"
    state = json.loads(state_file.read_text())
    state[site.feed_url]["last_full_fetch"] = "2026-11-23T00:00:00+00:00"  # a day and more ago
    state_file.write_text(json.dumps(state))
    assert run(site, out, "2026-11-24") == EXIT_OK
    assert story_ids(rows(out, "2026-11-24")) == ["2"]


def test_failing_feed_backs_off(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.server.routes["/feed.xml"] = {"status": 503}
    for day in ("2026-11-21", "2026-11-22", "2026-11-23"):
        run(site, out, day)
    state = json.loads((out / "_state" / "feeds.json").read_text())
    assert state[site.feed_url]["failures"] == 3
    requests = len(site.server.requests)
    run(site, out, "2026-11-24")
    assert len(site.server.requests) == requests  # held back: not even asked
    (m,) = manifests(out, "2026-11-24")
    assert "backoff after 3 failed runs" in m["feeds"]["skipped"][site.feed_url]


def _newsbeam(*args: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("newsbeam")
    return subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_run_leaves_no_trace_and_a_second_run_is_refused(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    assert run(site, out, "2026-11-24") == EXIT_OK
    published = rows(out)
    site.feed([1, 2, 3])
    site.server.routes["/news/3.html"] = {"hang": True}
    proc = _newsbeam("run", "--feed", site.feed_url, "--output", str(out), "--date", "2026-11-24",
                     "--allow-private-hosts")
    try:
        assert site.server.hanging.wait(timeout=120), "the run never reached the hanging page"
        # While it is stuck mid-run: the lock is held, a second run is refused.
        assert (out / "_lock.json").exists()
        assert run(site, out, "2026-11-24") == EXIT_LOCKED
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Readers still see exactly the last committed run.
    assert [stable(r) for r in rows(out)] == [stable(r) for r in published]
    assert any((out / "_staging").iterdir())  # the dead run's files, aside
    del site.server.routes["/news/3.html"]
    assert run(site, out, "2026-11-24") == EXIT_OK  # takes over the dead run's lock
    assert story_ids(rows(out)) == ["1", "2", "3"]
    assert not any((out / "_staging").iterdir())
    assert not (out / "_lock.json").exists()


def test_two_concurrent_runs_one_refused_with_message(site: Site, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    site.feed([1])
    site.server.routes["/news/1.html"] = {"hang": True}
    proc = _newsbeam("run", "--feed", site.feed_url, "--output", str(out), "--date", "2026-11-24",
                     "--allow-private-hosts")
    try:
        assert site.server.hanging.wait(timeout=120)
        assert run(site, out, "2026-11-24") == EXIT_LOCKED
        assert "another run holds" in capsys.readouterr().err
        site.server.release.set()
        assert proc.wait(timeout=120) == EXIT_OK, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert story_ids(rows(out)) == ["1"]


def test_json_feed_and_news_sitemap(site: Site, tmp_path: Path) -> None:
    base = site.server.base
    (site.root / "feed.json").write_text(json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "Harbour JSON", "language": "en",
        "items": [{"id": "5", "url": f"{base}/news/5.html", "title": "Story 5",
                   "date_published": "2026-11-23T08:00:00+01:00", "authors": [{"name": "Ada Lane"}],
                   "tags": ["harbour"]}],
    }))
    (site.root / "news-sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f'<url><loc>{base}/news/6.html</loc><news:news><news:publication><news:name>Harbour Times'
        '</news:name><news:language>en</news:language></news:publication>'
        '<news:publication_date>2026-11-23T09:30:00Z</news:publication_date>'
        '<news:title>Story 6</news:title><news:keywords>ferry, harbour</news:keywords></news:news></url>'
        '</urlset>')
    out = tmp_path / "out"
    code = main(["run", "--feed", site.server.url("/feed.json"), "--feed", site.server.url("/news-sitemap.xml"),
                 "--output", str(out), "--date", "2026-11-24", "--allow-private-hosts"])
    assert code == EXIT_OK
    found = {r["url"].rsplit("/", 1)[-1]: r for r in rows(out)}
    assert set(found) == {"5.html", "6.html"}
    assert found["5.html"]["authors"] == ["Ada Lane"]
    assert found["5.html"]["published_at"].isoformat() == "2026-11-23T07:00:00+00:00"
    assert found["6.html"]["tags"] == ["ferry", "harbour"]
    assert found["6.html"]["source"] == "Harbour Times"
