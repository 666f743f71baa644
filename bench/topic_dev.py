"""The topic development set: real news of many outlets, labelled by hand, split by outlet.

``bench/topic_dev_labels.tsv`` holds the labels (written for this project; the texts stay in
``../shared/data``): every article page of the fundus and AEB collections and the entries of the
real news feeds there, each with the IPTC top-level topics a desk editor could file it under
(first = best; several for mixed stories, e.g. a court case about a politician). Nothing here is
trained on by the first layer: the development set scores models and fits the second layer and
the score calibration.

Items carry their outlet. The second layer, which is fitted on these items, is scored by
cross-validation over outlets (never rows): ``outlet_fold`` puts each outlet in one of 5 folds,
and each fold is scored by a second layer fitted without it (``fold_stacks``). Outlets that the
training data came from (BBC: the BBC News and MasakhaNEWS sets; DER STANDARD: 10kGNAD) are
marked ``in_sample`` and kept out of every figure.

Feed items read their title and summary; articles their headline and the publisher's body text
(fundus truth, AEB ``articleBody``), so the figure measures the classifier, not the extractor.
URLs are kept for the evidence benchmark but never reach the text model.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import html
import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

LABELS_FILE = Path(__file__).with_name("topic_dev_labels.tsv")
# Outlets whose articles trained the model: BBC News + MasakhaNEWS (BBC), 10kGNAD (DER STANDARD).
IN_SAMPLE_OUTLETS = {"bbc", "derstandard"}
# A feed contributes at most this many entries, so that one prolific feed (heise lists 150)
# does not outweigh the rest.
MAX_PER_FEED = 40
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.DOTALL | re.IGNORECASE)
# Feed files whose outlet is not their file name.
_FEED_OUTLETS = {
    "wapowellness": "washingtonpost",
    "content-encoded": "medium",
    "feedburner": "googleads",
    "rss2sample": "nasa",
    "uolNoticias": "uol",
    "japantimes": "japantimes",
}


@dataclasses.dataclass(frozen=True)
class DevItem:
    kind: str  # "article" or "feed"
    outlet: str
    url: str
    title: str
    text: str
    tags: tuple[str, ...]
    gold: tuple[str, ...]  # acceptable IPTC codes, best first
    html: str = ""  # the page's .html.gz under shared/data (articles), for the pipeline path

    @property
    def in_sample(self) -> bool:
        return self.outlet in IN_SAMPLE_OUTLETS



def _plain(s: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", s or ""))).strip()


def _outlet_of_host(url: str) -> str:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    parts = [p for p in host.split(".") if p not in ("www", "www1", "feeds", "hosted")]
    # The registrable name: the label before a (possibly two-part) public suffix.
    if len(parts) >= 3 and parts[-2] in ("co", "com", "org", "net", "ac"):
        return parts[-3]
    return parts[-2] if len(parts) >= 2 else host


def _labels() -> dict[tuple[str, str], tuple[str, ...]]:
    out = {}
    for line in LABELS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, source, key, codes, _title = line.split("\t")
        out[(source, key)] = tuple(codes.split())
    return out


def _fundus(root: Path, labels) -> Iterator[DevItem]:
    for row in json.loads((root / "extraction/fundus/index.json").read_text(encoding="utf-8")):
        gold = labels.get(("fundus", row["url"]))
        if not gold:
            continue
        expected = json.loads((root / "extraction/fundus" / row["expected_json"]).read_text())
        expected = expected.get(row["version_key"], expected)
        body = expected.get("body") or {}
        parts = list(body.get("summary") or [])
        for section in body.get("sections") or []:
            parts += list(section.get("headline") or []) + list(section.get("paragraphs") or [])
        outlet = row["publisher"].lower()
        title, text = expected.get("title") or "", "\n".join(parts)
        html_path = str(root / "extraction/fundus" / row["html"])
        yield DevItem("article", outlet, row["url"], title, text, (), gold, html_path)


def _aeb(root: Path, labels) -> Iterator[DevItem]:
    truth = json.loads((root / "extraction/aeb/ground-truth.json").read_text(encoding="utf-8"))
    for page_id, row in truth.items():
        gold = labels.get(("aeb", row["url"]))
        if not gold:
            continue
        raw = gzip.decompress((root / "extraction/aeb/html" / f"{page_id}.html.gz").read_bytes())
        match = _TITLE.search(raw.decode("utf-8", "replace"))
        title = _plain(match.group(1)) if match else ""
        outlet = _outlet_of_host(row["url"])
        html_path = str(root / "extraction/aeb/html" / f"{page_id}.html.gz")
        yield DevItem("article", outlet, row["url"], title, row["articleBody"], (), gold, html_path)


def _feeds(root: Path, labels) -> Iterator[DevItem]:
    import feedparser

    sources = sorted({source for source, _ in labels if source.startswith("feeds/")})
    for source in sources:
        parsed = feedparser.parse((root / source).read_bytes())
        stem = Path(source).stem
        kept = 0
        for n, entry in enumerate(parsed.entries):
            gold = labels.get((source, str(n)))
            if not gold or kept >= MAX_PER_FEED:
                continue
            kept += 1
            link = entry.get("link") or ""
            outlet = _FEED_OUTLETS.get(stem) or _outlet_of_host(link) or stem
            tags = tuple(t.get("term") for t in entry.get("tags") or () if t.get("term"))
            yield DevItem(
                "feed", outlet, link, _plain(entry.get("title") or ""),
                _plain(entry.get("summary") or ""), tags, gold,
            )


def load_dev(shared_data: Path | str) -> list[DevItem]:
    """Every labelled item of the development set, in file order."""
    root = Path(shared_data)
    labels = _labels()
    return [*_fundus(root, labels), *_aeb(root, labels), *_feeds(root, labels)]


# --- scoring --------------------------------------------------------------------------------

CV_FOLDS = 5
LANGUAGES = ("de", "en")


def outlet_fold(outlet: str, folds: int = CV_FOLDS) -> int:
    return int(hashlib.sha256(f"cv\0{outlet}".encode()).hexdigest()[:8], 16) % folds


def detect_languages(items: list[DevItem]) -> list[str]:
    """The language the pipeline would detect for each item (py3langid on title + text)."""
    from transforms.enrichment.language import detect_language, load_identifier

    identifier = load_identifier()
    return [detect_language(identifier, i.title, i.text, None)[0] or "" for i in items]


def stack_inputs(model, items: list[DevItem]):
    """Rows of ``TopicModel.stacked_features`` (the model's seeds, else the shipped ones)."""
    import numpy as np

    if model.seeds is None:
        import dataclasses as dc

        from transforms.enrichment.topic_seeds import Seeds

        model = dc.replace(model, seeds=Seeds.load())
    return np.array([model.stacked_features(i.title, i.text) for i in items])


def fold_stacks(
    features, gold: list[str], outlets: list[str], classes, c: float = 0.3, balance: float = 0.0
) -> dict[int, tuple]:
    """Per outlet fold k (5 folds by outlet), the second layer ``(weights, bias)`` fitted
    without fold k's items; gold topics weigh (mean count / count) ** balance."""
    import numpy as np

    from transforms.enrichment.topic_train import balance_weights, fit_stack

    folds = np.array([outlet_fold(o) for o in outlets])
    gold_arr = np.array(gold)
    stacks = {}
    for k in range(CV_FOLDS):
        test = folds == k
        if test.any():
            weights = balance_weights(list(gold_arr[~test]), balance)
            stacks[k] = fit_stack(features[~test], gold_arr[~test], classes, c, weights)
    return stacks


def held_out_logits(features, outlets: list[str], stacks: dict[int, tuple]):
    """Each item's decision values under the second layer of :func:`fold_stacks` that was
    fitted without its outlet."""
    import numpy as np

    folds = np.array([outlet_fold(o) for o in outlets])
    logits = np.zeros((len(outlets), next(iter(stacks.values()))[1].shape[0]))
    for k, (w, b) in stacks.items():
        test = folds == k
        logits[test] = features[test] @ w.T + b
    return logits


def outlet_cv_logits(
    features, gold: list[str], outlets: list[str], classes, c: float = 0.3, balance: float = 0.0
):
    """Decision values of a stack fitted without each item's outlet (5 folds by outlet)."""
    stacks = fold_stacks(features, gold, outlets, classes, c, balance)
    return held_out_logits(features, outlets, stacks)


def softmax(logits, temperature: float = 1.0):
    import numpy as np

    z = np.asarray(logits, float) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits, golds: list[tuple[str, ...]], classes) -> float:
    """The temperature whose top scores best match how often the top topic is acceptable
    (least squares, i.e. the Brier score of "the topic is right"). The ranking, and so the
    accuracy, does not depend on it."""
    import numpy as np

    top = np.asarray(logits).argmax(axis=1)
    right = np.array([classes[j] in g for j, g in zip(top, golds)], float)
    grid = np.geomspace(0.1, 5.0, 200)
    loss = [np.mean((softmax(logits, t).max(axis=1) - right) ** 2) for t in grid]
    return float(grid[int(np.argmin(loss))])


def accuracy_table(items: list[DevItem], languages: list[str], predicted: list[str | None]):
    """{(kind, language or "all"): (correct, total)} over items the model reads (de, en)."""
    table: dict[tuple[str, str], list[int]] = {}
    for item, language, pred in zip(items, languages, predicted):
        if language not in LANGUAGES:
            continue
        ok = int(pred in item.gold)
        for key in ((item.kind, language), (item.kind, "all")):
            cell = table.setdefault(key, [0, 0])
            cell[0] += ok
            cell[1] += 1
    return {k: (v[0], v[1]) for k, v in table.items()}


def calibration(scores, correct, bins: int = 10):
    """(expected calibration error, [(low, high, n, mean score, accuracy)]) of top scores."""
    import numpy as np

    scores, correct = np.asarray(scores, float), np.asarray(correct, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows, ece = [], 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (scores > low) & (scores <= high) if low > 0 else (scores <= high)
        n = int(inside.sum())
        if n:
            mean, acc = float(scores[inside].mean()), float(correct[inside].mean())
            ece += n / len(scores) * abs(mean - acc)
            rows.append((float(low), float(high), n, mean, acc))
    return ece, rows


def pipeline_articles(items: list[DevItem]):
    """Each article item's page through the pipeline's own extract and clean stages (pure
    functions of the stages), fetched from a neutral URL so that no URL desk gives the topic
    away: what the topic stage sees in ``newsbeam run``, sections and keywords included.
    Items whose page yields no text come back as None."""
    import datetime as dt

    from transforms.text.clean import apply_cleaning, clean_text, load_rules
    from transforms.text.extract import ExtractConfig, NoTextError, extract_article
    from transforms.records import FeedEntry, FetchedPage

    rules, cfg = load_rules(), ExtractConfig()
    fetched = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    out = []
    for number, item in enumerate(items):
        url = f"https://news.example/a/{number}.html"
        entry = FeedEntry("https://news.example/feed.xml", "", url, url=url, id=str(number))
        body = gzip.decompress(Path(item.html).read_bytes())
        page = FetchedPage(entry, url, 200, "text/html", None, body, fetched)
        try:
            article = extract_article(page, cfg)
        except NoTextError:
            out.append(None)
            continue
        out.append(apply_cleaning(article, clean_text(article.text, rules, article.title)))
    return out
