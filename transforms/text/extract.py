"""Extract article text and metadata from fetched pages with trafilatura.

Input: ``FetchedPage``. Output: ``Article`` with raw text, title, people and agencies, UTC dates
(``published_at``, ``modified_at``), ``canonical_url``, paywall flag, the page's images with
their captions and credits, and the credits and captions taken out of the page (``ok``);
``DeadLetter`` (``dead``, stage ``extract``) when neither the page nor the feed has usable text
(``no_text``), when the page is a bot challenge, a consent wall or an empty app shell
(``bot_challenge``, ``consent_wall``, ``js_required``: :mod:`transforms.text.challenge`), or
when the HTML breaks the parser (the exception's name).
Counters (namespace ``extract``): ``in``, ``out``, ``text_source:page``, ``text_source:feed``,
``pass:precision``, ``pass:default``, ``pass:precision+recall`` (which trafilatura pass gave the
page's text; the last: precision with paragraphs put back from the default pass),
``dead:<error_type>`` per dead letter.

Order of work on a page:
1. decode the bytes (HTTP charset, BOM, ``<meta charset>``, UTF-8, cp1252 — as browsers do);
2. read metadata (:mod:`transforms.text.metadata`) while bylines and schema.org data are intact;
3. find the article's images (:mod:`transforms.text.images`), then drop credit and caption
   nodes (:mod:`transforms.text.dom_clean` by tag and class names, then
   :mod:`transforms.text.figure_text` for image blocks that no class names), keeping what they
   said and which image each one stands under;
4. run trafilatura with ``favor_precision`` on the stripped tree (a copy without the scripts,
   styles, SVG, navigation and form controls that trafilatura deletes anyway:
   :func:`extractor_tree`). Precision mode leaves out the
   related-links blocks and teasers around an article, but on a few layouts it keeps only a
   fragment; when its text is shorter than ``precision_min_chars`` the default pass runs too
   and the longer text wins (measured with ``bench/text_quality.py``: both corpora gain);
5. put back what the precision pass dropped inside the article (``recall_pass``): by default
   (``page``) the page's own blocks that stand between two consecutive lines of the precise
   text under the same parent element (:mod:`transforms.text.restore`); with ``trafilatura``
   the lines trafilatura's default pass has between two precise lines, and up to two lines
   cut off its start (:func:`restore_dropped`), which costs a second pass. On the shared pages
   both reach AEB recall 0.989 on the outlet-held-out hosts (trafilatura's own: 0.989); the
   second pass gives fundus F1 0.953 against 0.951 for about 1.4x the extraction CPU
   (BENCHMARKS.md); lines of whitespace only are joined into the paragraph they interrupt;
6. optionally (``keep_teaser``) put back the lead paragraph that precision mode drops.
trafilatura's own metadata pass is not run: :mod:`transforms.text.metadata` reads the same meta tags,
JSON-LD, bylines and dates, and that pass cost a fifth of the extraction time. On the fundus
pages titles and dates came out the same without it and author recall went from 0.770 to 0.776.
When the page's text is too short (a paywall stub, a video page, a JS-only site) the feed's
content or summary is used instead and ``text_source`` says so.

With ``processes`` > 0 the stage hands pages to a pool of that many processes (``newsbeam run
--workers``) and emits each article when it is done: extraction is the CPU cost, and on the
local runner this keeps every core busy while the pipeline's own process fetches and runs the
cheap stages. Failures come back as dead letters from the child; a child that dies takes only
the page that killed it (twice) with it.
The first :data:`POOL_AFTER_PAGES` pages, and every page until the children answer, are
extracted in the stage's own process, so a run of a few pages never waits for processes; if
the children cannot start at all (a script without a main guard, see
:class:`transforms.fetching.inflight.ProcessPool`), the stage says why once and extracts inline.
"""

from __future__ import annotations

import codecs
import copy
import logging
import re
import urllib.parse
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

import apache_beam as beam
import trafilatura
from lxml import etree
from lxml import html as lxml_html
from pydantic import BaseModel, ConfigDict, Field, field_validator
from trafilatura.utils import DOCTYPE_TAG, FAULTY_HTML, is_dubious_html, repair_faulty_html

from transforms.text import challenge, images, metadata
from transforms.storage.deadletter import DEAD, dead_letter
from transforms.text.dom_clean import strip_credit_nodes
from transforms.text.figure_text import strip_image_texts
from transforms.text.page_sections import page_keywords, page_sections
from transforms.text.restore import restore_dropped, restore_from_page
from transforms.fetching.inflight import MAIN_GUARD, InFlight, Pending, ProcessPool
from transforms.records import Article, DeadLetter, FetchedPage, Image

_LOG = logging.getLogger(__name__)

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Kept importable from here: pipeline code and older tests use these names.
parse_datetime = metadata.parse_datetime
clean_title = metadata.clean_title


class ExtractConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Below this many characters a page's text is taken to be a stub, and the feed's text wins
    # when it is longer.
    min_chars: int = Field(default=250, gt=0)
    include_tables: bool = True
    # trafilatura's precision mode first (less chrome); see the module docstring.
    favor_precision: bool = True
    favor_recall: bool = False
    # When the precision pass yields fewer characters, the default pass runs too.
    precision_min_chars: int = Field(default=500, ge=0)
    # trafilatura's comparison with readability/jusText ("fallback"): "always" on every pass,
    # "rescue" only on the second (default) pass that runs when the first one came out short,
    # "never". The comparison is a third of trafilatura's time and rarely changes a news page's
    # text; "rescue" keeps it for the layouts where the main extractor fails (BENCHMARKS.md).
    fallback: Literal["always", "rescue", "never"] = "rescue"
    # Processes extracting side by side (0: in the stage's own thread). Set by ``newsbeam run
    # --workers`` on the local runner; distributed runners already run a worker per core.
    processes: int = Field(default=0, ge=0)
    # Take credit and caption nodes out of the DOM before extraction.
    strip_credits: bool = True
    # Put back paragraphs that the precision pass dropped from the middle of the article:
    # "page" from the page's own blocks beside them (:mod:`transforms.text.restore`, no second
    # pass), "trafilatura" from trafilatura's default pass (``restore_dropped``; costs a second
    # pass, about as much CPU as the first), "off". ``true``/``false`` (older configs) mean
    # "trafilatura"/"off". Figures of each: BENCHMARKS.md.
    recall_pass: Literal["page", "trafilatura", "off"] = "page"
    # Put back the lead paragraph (the page's description, shown in its body) when trafilatura
    # dropped it with the article header. Off: the lead is kept in ``summary`` anyway, and the
    # two ground truths disagree on it (fundus F1 +0.004, AEB F1 -0.002, bench/text_quality.py).
    keep_teaser: bool = False

    @field_validator("recall_pass", mode="before")
    @classmethod
    def _recall_pass_flag(cls, value: Any) -> Any:
        # recall_pass was a flag before the "page" pass existed; true meant the default pass.
        if value is True:
            return "trafilatura"
        if value is False:
            return "off"
        return value


class NoTextError(Exception):
    """Neither the page nor the feed entry had any text."""


class ShellPageError(NoTextError):
    """The page is an interstitial, not the article: ``kind`` is ``bot_challenge``,
    ``consent_wall`` or ``js_required`` (:mod:`transforms.text.challenge`). A ``NoTextError``:
    the page has no article text, and callers that expect that error keep working."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)  # the only argument, so that the error pickles across processes
        self.kind = kind

    def __str__(self) -> str:
        return f"the page is a {self.kind.replace('_', ' ')} page, not an article"


def decode_html(body: bytes, charset: str | None) -> str:
    """Bytes → text: BOM, then HTTP charset, then ``<meta charset>``, then UTF-8, then cp1252."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    candidates = [charset]
    match = _META_CHARSET.search(body[:4096])
    if match:
        candidates.append(match.group(1).decode("ascii", "ignore"))
    candidates += ["utf-8"]
    for name in candidates:
        if not name:
            continue
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            continue
        # Publishers label windows-1252 as latin-1; browsers decode it as cp1252 and so do we.
        codec = "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode("cp1252", errors="replace")


# trafilatura's parser settings with lxml's C-level element lookup: the parser of lxml.html
# asks a Python method which class each element proxy gets, several thousand times a page in
# trafilatura's and our tree walks (~3 % of extraction CPU). Every element is an HtmlElement
# either way; only lxml.html's form classes (FormElement.inputs …) are not made, and nothing
# here uses them. Same text, metadata and images on the 302 shared pages.
_PARSER = lxml_html.HTMLParser(
    collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
)
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement,
        comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction,
        entity=lxml_html.HtmlEntity,
    )
)


def _parse(markup: str | bytes) -> lxml_html.HtmlElement | None:
    try:
        return lxml_html.fromstring(markup, parser=_PARSER)
    except ValueError:
        if isinstance(markup, str):
            # lxml refuses str input that declares an encoding (<?xml … encoding=…?>).
            return _parse(markup.encode("utf-8", "surrogatepass"))
        return None
    except etree.LxmlError:
        return None


# The characters trafilatura's ``repair_faulty_html`` deletes first (its ``INVALID_XML_CHARS``;
# a test checks they are the same). Its regex substitution scans the whole page at ~3 ns a
# character, a third of parse_page; 31 ``in`` tests (C string search) take a quarter of that,
# and no page but one in the 302 shared ones holds any of them.
INVALID_XML_CHARS = (
    *map(chr, range(0x00, 0x09)), "\x0b", "\x0c", *map(chr, range(0x0E, 0x20)), "\ufffe", "\uffff"
)


def repair_html(html_text: str, beginning: str) -> str:
    """``trafilatura.utils.repair_faulty_html(html_text, beginning)``, without its scan for
    invalid characters on a page that holds none (a test compares the two)."""
    if any(char in html_text for char in INVALID_XML_CHARS):
        return repair_faulty_html(html_text, beginning)
    # The rest of repair_faulty_html (trafilatura 2.x): the doctype and <html/> repairs.
    if "doctype" in beginning:
        firstline, _, rest = html_text.partition("\n")
        html_text = DOCTYPE_TAG.sub("", firstline, count=1) + "\n" + rest
    for line in html_text[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            html_text = FAULTY_HTML.sub(r"\1>", html_text, count=1)
            break
    return html_text


def parse_page(html_text: str) -> lxml_html.HtmlElement | None:
    """The page's tree, as trafilatura's ``load_html`` would build it (its doctype and
    ``<html/>`` repairs, its rejection of a non-HTML document), with :data:`_PARSER`."""
    beginning = html_text[:50].lower()
    markup = repair_html(html_text, beginning)
    tree = _parse(markup)
    if tree is None or len(tree) < 1:
        tree = _parse(markup.encode("utf-8", "surrogatepass"))
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None  # text or markup that is not a page
    return tree


def site_name(page: FetchedPage, sitename: str | None) -> str:
    return page.entry.feed_name or sitename or urllib.parse.urlsplit(page.final_url).hostname or ""


# Elements trafilatura deletes in every focus mode (its ``MANUALLY_CLEANED``) that nothing it
# runs before that deletion reads: removed once here, for both passes, they are not copied and
# scanned by its many tree-wide XPath prunes twice. JSON-LD scripts stay: trafilatura reads
# them (forum detection, its baseline rescue). On the 302 shared pages: a fifth of the elements,
# ~12 % of the two passes' CPU, same text on 301 pages; on the other, an SVG icon inside a list
# item took the item's text with it in trafilatura's own removal, and no longer does.
EXTRACTOR_DROPS = (
    "script", "style", "svg", "link", "meta", "noscript", "nav", "iframe",
    "button", "select", "input", "label", "textarea",
)


def extractor_tree(tree: lxml_html.HtmlElement) -> lxml_html.HtmlElement:
    """A copy of ``tree`` without :data:`EXTRACTOR_DROPS` (their tail text kept in place).
    A copy: the challenge test and the teaser still read the page as it was."""
    pruned = copy.deepcopy(tree)
    for node in list(pruned.iter(*EXTRACTOR_DROPS)):
        if node.tag == "script" and (node.get("type") or "").strip().lower() == "application/ld+json":
            continue
        parent = node.getparent()
        if parent is None:
            continue
        if node.tail:
            before = node.getprevious()
            if before is not None:
                before.tail = (before.tail or "") + node.tail
            else:
                parent.text = (parent.text or "") + node.tail
        parent.remove(node)
    return pruned


def _trafilatura(
    tree: lxml_html.HtmlElement, url: str, cfg: ExtractConfig, precision: bool, fallback: bool
):
    return trafilatura.bare_extraction(
        tree,
        url=url,
        fast=not fallback,
        with_metadata=False,
        include_comments=False,
        include_tables=cfg.include_tables,
        favor_precision=precision,
        favor_recall=cfg.favor_recall and not precision,
        # Per-process dedup state would make results depend on what a worker saw before.
        deduplicate=False,
    )


def extract_text(tree: lxml_html.HtmlElement, url: str, cfg: ExtractConfig) -> tuple[str, str]:
    """(text, pass name) for a stripped tree."""
    tree = extractor_tree(tree)
    rescue = cfg.fallback != "never"
    # Without precision mode the first pass is the only one, so it is the rescue pass too.
    first_fallback = cfg.fallback == "always" or (rescue and not cfg.favor_precision)
    doc = _trafilatura(tree, url, cfg, cfg.favor_precision, first_fallback)
    text = join_blank_lines((doc.text or "").strip()) if doc is not None else ""
    used = "precision" if cfg.favor_precision else "default"
    other = None
    if cfg.favor_precision and len(text) < cfg.precision_min_chars:
        # bare_extraction leaves the tree as it found it, so a second pass sees the same page.
        second = _trafilatura(tree, url, cfg, False, rescue)
        other = join_blank_lines((second.text or "").strip()) if second is not None else ""
        if len(other) > len(text):
            text, used = other, "default"
    if used != "precision" or not text or cfg.recall_pass == "off":
        return text, used
    if cfg.recall_pass == "page":
        restored = restore_from_page(text, tree)
    else:
        if other is None:  # the default pass did not run above
            second = _trafilatura(tree, url, cfg, False, False)
            other = join_blank_lines((second.text or "").strip()) if second is not None else ""
        restored = restore_dropped(text, other)
    if restored != text:
        text, used = restored, "precision+recall"
    return text, used


# A line of spaces or tabs only. trafilatura emits such lines where a paragraph holds inline
# elements on lines of their own ("Startdatum für \n   \n    Legos …" on Focus): they are line
# wrapping inside one paragraph, never a paragraph break.
_BLANK_RUN = re.compile(r"[ \t\xa0]*\n(?:[ \t\xa0]+\n)+[ \t\xa0]*")


def join_blank_lines(text: str) -> str:
    """Join the lines around runs of whitespace-only lines with one space."""
    # Every run starts with a line break and a space, tab or no-break space. Three substring
    # searches rule out most texts at a third of the cost of the regex, which (no literal to
    # start from) is tried at every position.
    if "\n " not in text and "\n\t" not in text and "\n\xa0" not in text:
        return text
    return _BLANK_RUN.sub(" ", text)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _with_teaser(text: str, teaser: str) -> str:
    """Put the page's lead paragraph first when the extractor left it out."""
    if not teaser or _key(teaser) in _key(text):
        return text
    return f"{teaser}\n{text}"


def extract_article(page: FetchedPage, cfg: ExtractConfig) -> Article:
    """One fetched page → an Article with raw (not yet cleaned) text and metadata."""
    article, _used = _extract(page, cfg)
    return article


def _extract(page: FetchedPage, cfg: ExtractConfig) -> tuple[Article, str | None]:
    entry = page.entry
    html_text = decode_html(page.body, page.charset)
    tree = parse_page(html_text) if html_text.strip() else None
    credits: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    pictures: tuple[Image, ...] = ()
    page_text, used = "", None
    page_names = metadata.site_names(tree)  # og:site_name and JSON-LD organisations
    names = metadata.site_names(None, entry.feed_name, page.final_url, *page_names)
    paywalled = metadata.is_paywalled(tree, page.http_status)
    byline = metadata.page_authors(tree, entry.authors, None, names)
    title = metadata.page_title(tree, (entry.title,), names) if tree is not None else ""
    sections, keywords = page_sections(tree), page_keywords(tree)
    if tree is not None:
        # Metadata first: the DOM pass below removes nodes some of it lives in.
        scan = images.scan_images(tree, page.final_url)  # before the DOM pass drops captions
        placed = ()
        if cfg.strip_credits:
            credits, captions, placed = strip_credit_nodes(tree, scan.owner_of)
            # Then the image blocks whose caption and credit no class names.
            more = strip_image_texts(tree, scan.elements(), scan.owner_of)
            credits = tuple(dict.fromkeys([*credits, *more.credits]))
            captions = tuple(dict.fromkeys([*captions, *more.captions]))
            placed = (*placed, *more.placed)
        pictures = images.article_images(scan, placed)
        credits, captions = images.with_image_texts(credits, captions, pictures)
        page_text, used = extract_text(tree, page.final_url, cfg)
        if kind := challenge.shell_kind(tree, page_text):
            raise ShellPageError(kind)  # interstitials become dead letters, not text
        if cfg.keep_teaser and page_text:
            page_text = _with_teaser(page_text, metadata.visible_teaser(tree))
    feed_text = entry.content if len(entry.content) >= len(entry.summary) else entry.summary
    if len(page_text) >= cfg.min_chars or (page_text and len(page_text) >= len(feed_text)):
        text, text_source = page_text, "page"
    elif feed_text:
        text, text_source, used = feed_text, "feed", None
    else:
        raise NoTextError("no usable text in the page or in the feed entry")
    sitename = page_names[0] if page_names else None
    source = site_name(page, sitename)
    if not title:
        title = metadata.clean_title(entry.title, (*names, source, sitename or ""))
    article = Article(
        id=entry.id,
        url=entry.url,
        final_url=page.final_url,
        feed_url=entry.feed_url,
        source=source,
        title=title,
        summary=entry.summary or (metadata.description(tree) if tree is not None else ""),
        text=text,
        text_source=text_source,
        fetched_at=page.fetched_at,
        authors=byline.people,
        agencies=byline.agencies,
        published_at=metadata.published_at(entry.published, tree, page.final_url),
        is_paywalled=paywalled,
        image_credits=credits,
        image_captions=captions,
        images=pictures,
        modified_at=metadata.modified_at(tree, entry.updated),
        canonical_url=metadata.canonical_url(tree, page.final_url),
        tags=entry.tags,
        sections=sections,
        feed_language=entry.feed_language,
        feed_topic=entry.feed_topic,
        page_keywords=keywords,
    )
    return article, used


def extract_outcome(page: FetchedPage, cfg: ExtractConfig) -> tuple[Article, str | None] | DeadLetter:
    """``(article, pass)`` or the page's dead letter; never raises, so it can run in a pool
    child and still name the page that failed."""
    try:
        return _extract(page, cfg)
    except ShellPageError as exc:
        error_type, message, status = exc.kind, str(exc), page.http_status
    except NoTextError as exc:
        error_type, message, status = "no_text", str(exc), page.http_status
    except Exception as exc:  # noqa: BLE001 - untrusted HTML can break any parser
        error_type, message, status = type(exc).__name__, repr(exc), None
    return dead_letter("extract", page.entry.url, error_type, message, status, page.entry.feed_url)


# What an extraction process needs imported; its forkserver imports them once.
EXTRACT_MODULES = (__name__,)


# Pages a pooled stage extracts inline before it starts its processes. A run of a handful of
# pages is over before children would be up, and waiting for them to start only to stop them
# made such a run slower than extracting inline (BENCHMARKS.md, "Default workers"); on a
# longer run these pages cost well under a second.
POOL_AFTER_PAGES = 8


class _ExtractFn(beam.DoFn):
    """Inline, or on a pool of ``cfg.processes`` processes with results leaving as they finish
    (a plain ParDo for the same reason as the fetch stage: later calls emit earlier elements'
    results with their windows; ``extract_outcome`` catches every failure itself)."""

    def __init__(self, cfg: ExtractConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._in = beam.metrics.Metrics.counter("extract", "in")
        self._out = beam.metrics.Metrics.counter("extract", "out")
        self._pool = None
        self._seen = 0
        if self._cfg.processes > 0:
            # The forkserver starts now (its imports take a second or more); the children only
            # once the run has shown it is more than a few pages (see POOL_AFTER_PAGES).
            self._pool = ProcessPool(self._cfg.processes, preload=EXTRACT_MODULES)

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def start_bundle(self) -> None:
        self._pending = InFlight()

    def process(
        self,
        page: FetchedPage,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
    ) -> Iterator[object]:
        self._in.inc()
        self._seen += 1
        if self._seen == POOL_AFTER_PAGES and self._pool is not None:
            self._pool.warm_up()
        if self._pool is not None and not self._pending and self._pool.failed_to_start():
            _LOG.warning("extraction processes did not start; extracting in this process. %s", MAIN_GUARD)
            self._pool.close()
            self._pool = None
        if self._pool is None or not (self._pending or self._pool.ready()):
            # Inline: no pool, or its children are still starting (the first pages of a run).
            yield from self._outputs(extract_outcome(page, self._cfg), None)
            return
        self._pending.add(self._submit(page), timestamp, window, (page, self._pool.generation))
        # A few pages queued per child keep every child busy while this thread is away cleaning
        # and classifying the articles that came back (pages are a few hundred KB: cheap).
        full = len(self._pending) >= 4 * self._pool.processes
        done = self._pending.next_done(block=full)
        if done is not None:
            yield from self._outputs(self._result(done), done)

    def finish_bundle(self) -> Iterator[object]:
        for done in self._pending.drain():
            yield from self._outputs(self._result(done), done)

    def _submit(self, page: FetchedPage):
        return self._pool.submit(extract_outcome, page, self._cfg)

    def _result(self, done: Pending):
        try:
            return done.future.result()
        except BrokenProcessPool:
            # A child died (a crashing parser, the OOM killer). Every page it had in hand fails
            # with it, so each one gets a second try alone on a new pool: an innocent page comes
            # out as usual, the page that kills a child again becomes a dead letter.
            page, generation = done.element
            self._pool.replace(generation)
            generation = self._pool.generation
            try:
                return self._submit(page).result()
            except BrokenProcessPool:
                self._pool.replace(generation)
                return dead_letter(
                    "extract", page.entry.url, "extract_crashed",
                    "the extraction process died on this page twice", None, page.entry.feed_url,
                )

    def _outputs(self, outcome, done: Pending | None) -> Iterator[object]:
        """What ``outcome`` emits; with the window of ``done``'s element when it came from the
        pool (inline, ``process`` is still in the element's own call)."""
        if isinstance(outcome, DeadLetter):
            beam.metrics.Metrics.counter("extract", f"dead:{outcome.error_type}").inc()
            output = beam.pvalue.TaggedOutput(DEAD, outcome)
        else:
            article, used = outcome
            self._out.inc()
            beam.metrics.Metrics.counter("extract", f"text_source:{article.text_source}").inc()
            if used:
                beam.metrics.Metrics.counter("extract", f"pass:{used}").inc()
            output = article
        yield output if done is None else done.windowed(output)


class ExtractArticles(beam.PTransform):
    """``FetchedPage`` → (``Article``, ``DeadLetter``)."""

    def __init__(self, cfg: ExtractConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, pages):
        results = pages | "Extract" >> beam.ParDo(_ExtractFn(self._cfg)).with_outputs(DEAD, main="ok")
        return results["ok"], results[DEAD]
