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

from transforms.records import UTC, Article, FeedEntry, FetchedPage, Image
from transforms.text.clean import Rule, apply_cleaning, clean_text, load_rules
from transforms.text.extract import (
    ExtractConfig,
    NoTextError,
    ShellPageError,
    decode_html,
    extract_article,
)
from transforms.text.images import image_key

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
_TOKEN = re.compile(r"\w+")
# The machines this runs on have 2 cores; more workers only add memory.
WORKERS = min(2, os.cpu_count() or 1)
# ``--images``: only our extraction on the fundus pages, for the image figures (no trafilatura).
IMAGES_ONLY = "--images" in sys.argv[1:]


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
    images: tuple[TruthImage, ...] = ()


class TruthImage(NamedTuple):
    """One picture of the fundus truth: every rendition's URL, caption, credit, cover flag."""

    urls: tuple[str, ...]
    caption: str
    credit: str
    is_cover: bool


class ImageScores(NamedTuple):
    """Counts of one page (summed over pages for a fold)."""

    truth: int = 0  # distinct pictures in the truth
    found: int = 0  # our images
    found_right: int = 0  # our images that are a truth picture
    truth_found: int = 0  # truth pictures among ours
    covers: int = 0  # pages whose truth has a cover image
    lead_right: int = 0  # ... where our lead image is that picture
    credited: int = 0  # truth pictures with a credit
    credited_found: int = 0  # ... that we found
    credit_right: int = 0  # ... with that credit on our record of the picture
    captioned: int = 0
    captioned_found: int = 0
    caption_right: int = 0
    truth_pages: int = 0  # pages with at least one truth picture

    def __add__(self, other: ImageScores) -> ImageScores:  # type: ignore[override]
        return ImageScores(*(a + b for a, b in zip(self, other)))


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
    images: ImageScores = ImageScores()
    rejected: str = ""  # the shell-page kind when extraction turned the page into a dead letter


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


def _extract_settings(argv: list[str]) -> ExtractConfig:
    """``--extract KEY=VALUE`` (repeatable): measure another extract setting, for example
    ``--extract recall_pass=false``; values are read as YAML scalars."""
    import yaml

    values = {}
    for flag, value in zip(argv, argv[1:]):
        if flag == "--extract":
            key, _, raw = value.partition("=")
            values[key] = yaml.safe_load(raw)
    return ExtractConfig(**values)


# Read at import, so the evaluation processes (forked or spawned) use the same settings.
_EXTRACT = _extract_settings(sys.argv[1:])


def ours(html: bytes, url: str) -> tuple[Article | None, str]:
    """(cleaned article or None, the shell-page kind when the page was rejected as one)."""
    global _RULES  # one rule load per worker process, as _CleanFn.setup() does
    if not _RULES:
        _RULES = load_rules()
    try:
        article = extract_article(page_of(html, url), _EXTRACT)
    except ShellPageError as exc:
        return None, exc.kind
    except NoTextError:
        return None, ""
    return apply_cleaning(article, clean_text(article.text, _RULES, article.title)), ""


def ours_text(html: bytes, url: str) -> str:
    article, _ = ours(html, url)
    return article.text if article is not None else ""


def _picture_keys(urls: Iterable[str]) -> set[str]:
    return {image_key(u) for u in urls} | set(urls)


def _same_text(ours: str, truth: str) -> bool:
    """Our caption or credit says what the truth says: the truth's words all in ours (credits
    split into several names by fundus), or a bag-of-words F1 of at least 0.8 (captions)."""
    mine, theirs = tokens(ours), tokens(truth)
    if not mine or not theirs:
        return False
    return set(theirs) <= set(mine) or bag_scores(ours, truth).f1 >= 0.8


def image_scores(images: Iterable[Image], truth: Iterable[TruthImage]) -> ImageScores:
    """Lead, recall/precision of pictures and pairing of captions and credits on one page.
    A picture is the same when one of its URLs equals ours or has the same
    :func:`transforms.text.images.image_key` (another rendition of one file: a size or crop
    token differs). Truth pictures that share a URL are one picture (fundus lists a gallery
    repeat of the cover twice); the first copy with a caption/credit gives it."""
    pictures: list[tuple[set[str], TruthImage]] = []
    for item in truth:
        keys = _picture_keys(item.urls)
        for i, (known, first) in enumerate(pictures):
            if known & keys:
                pictures[i] = (
                    known | keys,
                    first._replace(
                        caption=first.caption or item.caption,
                        credit=first.credit or item.credit,
                        is_cover=first.is_cover or item.is_cover,
                    ),
                )
                break
        else:
            pictures.append((keys, item))
    mine = list(images)
    match = [
        next((j for j, (keys, _) in enumerate(pictures) if _picture_keys([im.url]) & keys), None)
        for im in mine
    ]
    by_truth: dict[int, Image] = {}
    for im, j in zip(mine, match):
        if j is not None:
            by_truth.setdefault(j, im)
    lead = next((j for im, j in zip(mine, match) if im.is_lead), None)
    cover = next((j for j, (_, t) in enumerate(pictures) if t.is_cover), None)
    credited = [j for j, (_, t) in enumerate(pictures) if t.credit]
    captioned = [j for j, (_, t) in enumerate(pictures) if t.caption]
    return ImageScores(
        truth=len(pictures),
        found=len(mine),
        found_right=sum(1 for j in match if j is not None),
        truth_found=len(by_truth),
        covers=int(cover is not None),
        lead_right=int(cover is not None and lead == cover),
        credited=len(credited),
        credited_found=sum(1 for j in credited if j in by_truth),
        credit_right=sum(
            1 for j in credited
            if j in by_truth and _same_text(by_truth[j].credit, pictures[j][1].credit)
        ),
        captioned=len(captioned),
        captioned_found=sum(1 for j in captioned if j in by_truth),
        caption_right=sum(
            1 for j in captioned
            if j in by_truth and _same_text(by_truth[j].caption, pictures[j][1].caption)
        ),
        truth_pages=int(bool(pictures)),
    )


def evaluate(task: Task) -> PageResult:
    gold = "\n".join(task.gold_lines)
    start = time.perf_counter()
    article, rejected = ours(task.html, task.url)
    text = article.text if article is not None else ""
    pictures = image_scores(article.images if article is not None else (), task.images)
    mid = time.perf_counter()
    traf = "" if IMAGES_ONLY else trafilatura.extract(decode_html(task.html, None)) or ""
    end = time.perf_counter()
    own = [c for c in task.credits if is_self_credit(c, task.publisher)]
    others = [c for c in task.credits if not is_self_credit(c, task.publisher)]
    return PageResult(
        task.corpus,
        task.name,
        fold_of(task),
        bag_scores(text, gold),
        bag_scores(traf, gold),
        len(others),
        len(own),
        leaked(others, text, gold),
        leaked(others, traf, gold),
        len(leaked(own, text, gold)),
        len(leaked(own, traf, gold)),
        mid - start,
        end - mid,
        pictures,
        rejected,
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


def fundus_images(expected: dict) -> tuple[TruthImage, ...]:
    return tuple(
        TruthImage(
            tuple(v["url"] for v in im.get("versions") or [] if v.get("url")),
            (im.get("caption") or "").strip(),
            " / ".join(a for a in im.get("authors") or [] if tokens(a)),
            bool(im.get("is_cover")),
        )
        for im in expected.get("images") or []
    )


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
            fundus_images(expected),
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


def _arg(name: str) -> str | None:
    args = sys.argv[1:]
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.3f} ({part}/{whole})" if whole else "–"


def print_images(fundus: list[PageResult]) -> None:
    """The image table: by outlet fold and for all pages (in-sample)."""
    print("fundus images (pooled over pages; a picture matches by URL or rendition key):")
    print("| fold | pages | lead right | image recall | image precision | precision, pages "
          "with truth images | credits on the right image | captions on the right image |")
    print("|---|---|---|---|---|---|---|---|")
    for fold in ("dev", "held-out", "all"):
        rows = [r for r in fundus if fold in ("all", r.fold)]
        s = sum((r.images for r in rows), ImageScores())
        with_truth = sum((r.images for r in rows if r.images.truth_pages), ImageScores())
        print(
            f"| {fold} | {len(rows)} | {_share(s.lead_right, s.covers)} | "
            f"{_share(s.truth_found, s.truth)} | {_share(s.found_right, s.found)} | "
            f"{_share(with_truth.found_right, with_truth.found)} | "
            f"{_share(s.credit_right, s.credited_found)} of found, "
            f"{_share(s.credit_right, s.credited)} of all | "
            f"{_share(s.caption_right, s.captioned_found)} of found |"
        )


def main() -> int:
    root = data_root()
    if not (root / "extraction" / "fundus" / "index.json").is_file():
        print(f"text_quality: no evaluation data under {root} (set NEWSBEAM_SHARED_DATA); skipped.")
        return 0
    tasks = [*fundus_tasks(root), *aeb_tasks(root)]
    if "--hits" in sys.argv[1:]:
        print_hits(rule_hits(tasks), tasks)
        return 0
    if IMAGES_ONLY:
        fold = _arg("--fold")
        tasks = [t for t in tasks if t.corpus == "fundus" and fold in (None, fold_of(t))]
        with ProcessPoolExecutor(WORKERS) as pool:
            results = list(pool.map(evaluate, tasks, chunksize=4))
        print_images(results)
        if "-v" in sys.argv[1:]:
            for r in results:
                print(f"  {r.fold} {r.name[:40]}: {r.images}")
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
    print()
    print_images(fundus)
    rejected = [(r.corpus, r.name, r.rejected) for r in results if r.rejected]
    print(f"pages rejected as shell pages (challenge, consent wall, app shell): {len(rejected)}")
    for corpus, name, kind in rejected:
        print(f"  {corpus} {name}: {kind}")
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
