"""Text quality of extract + clean against trafilatura's default, side by side from one run.

Usage: ``python bench/text_quality.py [--hits] [-v]``; prints the corpora as a whole and by
outlet fold (``dev`` / ``held-out``, see :func:`fold_of`).
  ``--hits``  only the rule check on the ground truth (seconds; for rule authors)
  ``-v``      also list pages where we score below trafilatura, worst first
Data: ``../shared/data`` from the repo root, or the directory in ``NEWSBEAM_SHARED_DATA``; the
script exits 0 with a message when it is absent. About a minute on 2 cores.

"ours" is the pipeline's own path: :func:`transforms.text.extract.extract_article` on a
``FetchedPage`` built from each HTML file, then :func:`transforms.text.clean.clean_text` +
:func:`transforms.text.clean.apply_cleaning` — the functions ``_ExtractFn`` and ``_CleanFn`` call.
"trafilatura" is ``trafilatura.extract(html)`` with its defaults, on the same decoded HTML.

Measures
- Tokens are lower-cased ``\\w+`` runs (Unicode letters/digits/underscore), compared as bags
  (multisets): ``common = Σ_t min(count_pred(t), count_gold(t))``, ``P = common/|pred|``,
  ``R = common/|gold|``, ``F1 = 2PR/(P+R)``; an empty text has P = R = F1 = 0 unless the gold
  is empty too.
- fundus P/R/F1: gold body = ``summary`` + every section's ``headline`` and ``paragraphs`` of
  the expected JSON; the table shows the mean over pages.
- fundus credit leak: the credits are the ``images[].authors`` strings of a page, one per image
  and author (a credit shown under three images counts three times, as a reader sees it three
  times). A credit *leaks* when its token sequence occurs contiguously in the output text more
  often than in the gold body — so a credit word the article itself uses ("Reuters reported")
  is not held against the extractor. Leak rate = leaked credits / credits, pooled over pages;
  credits without a token are ignored. A credit that is only the publisher's own name (the
  index's ``publisher``, compared on letters and digits: "WDR" on a WDR page) is left out of
  the rate: the outlet names itself in real sentences that the gold sometimes lacks ("sagte er
  im WDR"), and no token measure tells those from a credit. The line under the table gives the
  strict count that includes them.
- aeb P/R/F1: micro-averaged against ``articleBody`` of ``aeb/ground-truth.json`` (``common``,
  ``|pred|`` and ``|gold|`` summed over all pages before dividing).
- body lines hit: every removal rule (whole-line rules and suffix cuts of
  ``configs/clean_rules.yaml``) is run on every expected paragraph/line of both ground truths
  (fundus summary/headlines/paragraphs, aeb ``articleBody`` lines); a line counts when
  :func:`transforms.text.clean.clean_text` would change it. On fundus only the 4 promo and
  cross-link lines its truth keeps may be listed ("Read more: …", "Special offer for Gear
  readers …"; issue 18 asks for them to go). AEB's
  annotators kept some photo-credit and copyright lines in ``articleBody`` ("(Image credit:
  NASA)"); those hits are listed so a reader can check that each one is such a line.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
import os
import re
import sys
import time
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import trafilatura

from transforms.text.clean import Rule, apply_cleaning, clean_text, load_rules
from transforms.text.extract import ExtractConfig, NoTextError, decode_html, extract_article
from transforms.records import UTC, FeedEntry, FetchedPage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
_TOKEN = re.compile(r"\w+")
# The machines this runs on have 2 cores; more workers only add memory.
WORKERS = min(2, os.cpu_count() or 1)


class Scores(NamedTuple):
    common: int
    pred: int
    gold: int

    @property
    def p(self) -> float:
        return self.common / self.pred if self.pred else float(self.gold == 0)

    @property
    def r(self) -> float:
        return self.common / self.gold if self.gold else float(self.pred == 0)

    @property
    def f1(self) -> float:
        p, r = self.p, self.r
        return 2 * p * r / (p + r) if p + r else 0.0


class Task(NamedTuple):
    corpus: str
    name: str
    html: bytes
    url: str
    gold_lines: list[str]
    credits: list[str]
    publisher: str


class PageResult(NamedTuple):
    corpus: str
    name: str
    fold: str
    ours: Scores
    traf: Scores
    credits: int
    self_credits: int
    leaked_ours: tuple[str, ...]
    leaked_traf: tuple[str, ...]
    self_leaked_ours: int
    self_leaked_traf: int
    seconds_ours: float
    seconds_traf: float


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def bag_scores(pred: str, gold: str) -> Scores:
    p, g = collections.Counter(tokens(pred)), collections.Counter(tokens(gold))
    return Scores(sum((p & g).values()), sum(p.values()), sum(g.values()))


def count_sequence(needle: list[str], hay: list[str]) -> int:
    """How often ``needle`` occurs as a contiguous token run in ``hay``."""
    n = len(needle)
    if not n:
        return 0
    first = needle[0]
    return sum(1 for i, t in enumerate(hay) if t == first and hay[i : i + n] == needle)


def leaked(credits: Iterable[str], text: str, gold: str) -> tuple[str, ...]:
    """The credits whose tokens occur in ``text`` more often than in ``gold``."""
    text_tokens, gold_tokens = tokens(text), tokens(gold)
    return tuple(
        c
        for c in credits
        if count_sequence(tokens(c), text_tokens) > count_sequence(tokens(c), gold_tokens)
    )


def is_self_credit(credit: str, publisher: str) -> bool:
    return bool(publisher) and "".join(tokens(credit)) == "".join(tokens(publisher))


def data_root() -> Path:
    return Path(os.environ.get("NEWSBEAM_SHARED_DATA") or REPO.parent / "shared" / "data")


def page_of(html: bytes, url: str) -> FetchedPage:
    """The FetchedPage the fetch stage would produce; no feed text, so the page must carry."""
    entry = FeedEntry(feed_url="", feed_name="", link=url, url=url, id=url)
    return FetchedPage(
        entry=entry,
        final_url=url,
        http_status=200,
        content_type="text/html",
        charset=None,
        body=html,
        fetched_at=dt.datetime(2026, 1, 1, tzinfo=UTC),
    )


_RULES: tuple[Rule, ...] = ()


def ours_text(html: bytes, url: str) -> str:
    global _RULES  # one rule load per worker process, as _CleanFn.setup() does
    if not _RULES:
        _RULES = load_rules()
    try:
        article = extract_article(page_of(html, url), ExtractConfig())
    except NoTextError:
        return ""
    return apply_cleaning(article, clean_text(article.text, _RULES, article.title)).text


def evaluate(task: Task) -> PageResult:
    gold = "\n".join(task.gold_lines)
    start = time.perf_counter()
    ours = ours_text(task.html, task.url)
    mid = time.perf_counter()
    traf = trafilatura.extract(decode_html(task.html, None)) or ""
    end = time.perf_counter()
    own = [c for c in task.credits if is_self_credit(c, task.publisher)]
    others = [c for c in task.credits if not is_self_credit(c, task.publisher)]
    return PageResult(
        task.corpus,
        task.name,
        fold_of(task),
        bag_scores(ours, gold),
        bag_scores(traf, gold),
        len(others),
        len(own),
        leaked(others, ours, gold),
        leaked(others, traf, gold),
        len(leaked(own, ours, gold)),
        len(leaked(own, traf, gold)),
        mid - start,
        end - mid,
    )


def fundus_gold(expected: dict) -> list[str]:
    body = expected.get("body") or {}
    lines = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        lines += list(section.get("headline") or []) + list(section.get("paragraphs") or [])
    return lines


def fundus_credits(expected: dict) -> list[str]:
    found = (a for im in expected.get("images") or [] for a in (im.get("authors") or []))
    return [c for c in found if tokens(c)]


def fundus_tasks(root: Path) -> Iterator[Task]:
    base = root / "extraction" / "fundus"
    for row in json.loads((base / "index.json").read_text("utf-8")):
        expected = json.loads((base / row["expected_json"]).read_text("utf-8"))[row["version_key"]]
        yield Task(
            "fundus",
            row["html"],
            gzip.decompress((base / row["html"]).read_bytes()),
            row["url"],
            fundus_gold(expected),
            fundus_credits(expected),
            row.get("publisher") or "",
        )


def aeb_tasks(root: Path) -> Iterator[Task]:
    base = root / "extraction" / "aeb"
    truth = json.loads((base / "ground-truth.json").read_text("utf-8"))
    for key, item in sorted(truth.items()):
        html = gzip.decompress((base / "html" / f"{key}.html.gz").read_bytes())
        lines = [line for line in item["articleBody"].splitlines() if line.strip()]
        yield Task("aeb", key, html, item.get("url") or "", lines, [], "")


def fold_of(task: Task) -> str:
    """The task's outlet fold: fundus by publisher (as ``bench/metadata_quality.py``), AEB by
    the page's host (its 181 pages come from 126 sites), never by row."""
    if task.corpus == "fundus":
        from metadata_quality import fold_of as publisher_fold

        return publisher_fold(task.publisher)
    host = (urllib.parse.urlsplit(task.url).hostname or "").removeprefix("www.")
    return "held-out" if zlib.crc32(host.encode("utf-8")) % 2 == 0 else "dev"


def rule_hits(tasks: Iterable[Task]) -> list[tuple[str, str, str, str]]:
    """(corpus, page, rules, line) for every ground-truth line a removal rule would change."""
    rules = load_rules()
    hits = []
    for task in tasks:
        for line in task.gold_lines:
            for part in line.splitlines():
                if not part.strip():
                    continue
                result = clean_text(part, rules)
                if result.removed or result.text != part.strip():
                    rule = ",".join(r.rule for r in result.removed) or "?"
                    hits.append((task.corpus, task.name, rule, part))
    return hits


def print_hits(hits: list[tuple[str, str, str, str]], tasks: list[Task]) -> None:
    for corpus in ("fundus", "aeb"):
        found = [h for h in hits if h[0] == corpus]
        lines = sum(len(t.gold_lines) for t in tasks if t.corpus == corpus)
        print(f"{corpus}: expected body lines hit by a removal rule: {len(found)} of {lines}")
        for _corpus, name, rule, line in found:
            print(f"  {rule} ({name[:24]}): {line[:140]!r}")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _micro(scores: Iterable[Scores]) -> Scores:
    items = list(scores)
    return Scores(*(sum(getattr(s, f) for s in items) for f in Scores._fields))


def main() -> int:
    root = data_root()
    if not (root / "extraction" / "fundus" / "index.json").is_file():
        print(f"text_quality: no evaluation data under {root} (set NEWSBEAM_SHARED_DATA); skipped.")
        return 0
    tasks = [*fundus_tasks(root), *aeb_tasks(root)]
    if "--hits" in sys.argv[1:]:
        print_hits(rule_hits(tasks), tasks)
        return 0
    started = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        results = list(pool.map(evaluate, tasks, chunksize=4))
    elapsed = time.perf_counter() - started
    fundus = [r for r in results if r.corpus == "fundus"]
    aeb = [r for r in results if r.corpus == "aeb"]
    credits = sum(r.credits for r in fundus)
    self_credits = sum(r.self_credits for r in fundus)

    print(
        f"text_quality: {len(fundus)} fundus pages ({credits} credits), {len(aeb)} aeb pages; "
        f"{elapsed:.0f}s wall on {WORKERS} workers"
    )
    print()
    header = (
        "",
        "fundus P",
        "fundus R",
        "fundus F1",
        "credit leak",
        "aeb P",
        "aeb R",
        "aeb F1",
        "cpu s",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    strict = []
    for label, pick in (("ours", "ours"), ("trafilatura", "traf")):
        fp = [getattr(r, pick) for r in fundus]
        leaks = sum(len(getattr(r, f"leaked_{pick}")) for r in fundus)
        own = sum(getattr(r, f"self_leaked_{pick}") for r in fundus)
        micro = _micro(getattr(r, pick) for r in aeb)
        seconds = sum(getattr(r, f"seconds_{pick}") for r in results)
        leak = leaks / credits if credits else 0.0
        print(
            f"| {label} | {_mean([s.p for s in fp]):.3f} | {_mean([s.r for s in fp]):.3f} | "
            f"{_mean([s.f1 for s in fp]):.3f} | {leak:.1%} ({leaks}) | {micro.p:.3f} | "
            f"{micro.r:.3f} | {micro.f1:.3f} | {seconds:.0f} |"
        )
        total = credits + self_credits
        strict.append(f"{label} {(leaks + own) / total if total else 0:.1%} ({leaks + own})")
    print()
    print("by outlet fold (fundus: mean over pages; AEB: micro):")
    print("| fold | fundus pages | ours F1 | trafilatura F1 | AEB pages | ours P | ours R | "
          "trafilatura P | trafilatura R |")
    print("|---|---|---|---|---|---|---|---|---|")
    for fold in ("dev", "held-out"):
        fp = [r for r in fundus if r.fold == fold]
        ap = [r for r in aeb if r.fold == fold]
        mo, mt = _micro(r.ours for r in ap), _micro(r.traf for r in ap)
        print(
            f"| {fold} | {len(fp)} | {_mean([r.ours.f1 for r in fp]):.3f} | "
            f"{_mean([r.traf.f1 for r in fp]):.3f} | {len(ap)} | {mo.p:.3f} | {mo.r:.3f} | "
            f"{mt.p:.3f} | {mt.r:.3f} |"
        )
    print()
    print(
        f"strict credit leak, counting the {self_credits} credits that only name the publisher: "
        + ", ".join(strict)
    )
    print_hits(rule_hits(tasks), tasks)
    leaks_ours = [(r.name, c) for r in fundus for c in r.leaked_ours]
    if leaks_ours:
        print("credits leaked by ours:")
        for name, credit in leaks_ours:
            print(f"  {name}: {credit!r}")
    if "-v" in sys.argv[1:]:
        print("pages where ours scores below trafilatura (F1 ours vs trafilatura):")
        for r in sorted(results, key=lambda r: r.ours.f1 - r.traf.f1):
            if r.ours.f1 >= r.traf.f1:
                break
            print(
                f"  {r.corpus} {r.name[:40]}: {r.ours.f1:.3f} vs {r.traf.f1:.3f} "
                f"(P {r.ours.p:.3f}/{r.traf.p:.3f} R {r.ours.r:.3f}/{r.traf.r:.3f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
