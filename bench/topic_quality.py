"""Topic quality and speed of a topic model: real news of unseen outlets, and held-out rows.

    python bench/topic_quality.py [--model DIR]

First the development set (``bench/topic_dev.py``): real news pages and feed items of ~150
outlets, hand-labelled with acceptable IPTC topics, scored from text only, per input kind and
language. "outlet-held-out" refits the model's second layer five times, each time without the
outlets it then scores (the first layer never saw any of them); "in-sample" uses the shipped
second layer, which was fitted on these outlets. Calibration (expected calibration error and
a reliability table) is computed on the outlet-held-out scores. Then the older per-data-set
figures below.

Scores rows that ``transforms.enrichment.topic_train.is_held_out`` reserves (training never sees them),
mapped to IPTC top-level codes, from text only (no URL, category or feed hints), through the
same ``classify_article`` as the pipeline. Accuracy counts a prediction of any model class;
macro-F1 averages over the classes the data set has. "short" rows read only the title and the
first 300 characters, like a feed item. Speed is documents per second on one core.

Data: ``../shared/data/topics`` beside the repository, or ``$NEWSBEAM_SHARED_DATA/topics``.
"""

from __future__ import annotations

import os

# One core: set before numpy loads its BLAS, so the speed is per core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np
import topic_dev

from transforms.enrichment.topic import Lexicon, TopicModel, classify_article
from transforms.enrichment.topic_train import Example, load_shared_topics

POLITICS = "medtop:11000000"
SPEED_BAR = 2000.0
SHORT_CHARS = 300
# Texts at least this long read the full max_chars window: the slow case.
LONG_CHARS = 3000
NAMES = {"10kgnad": "10kGNAD", "agnews": "AG News", "bbc": "BBC", "masakhanews": "MasakhaNEWS"}


def shared_data_dir() -> Path:
    return Path(os.environ.get("NEWSBEAM_SHARED_DATA") or REPO.parent / "shared" / "data")


def macro_f1(gold: list[str], pred: list[str]) -> float:
    """Mean F1 over the gold classes (a prediction outside them only costs recall)."""
    scores = []
    for c in sorted(set(gold)):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def desk_of(predicted: str, labels: set[str]) -> str:
    """A topic the data set cannot label, as the data set's catch-all desk would file it."""
    return predicted if predicted in labels or POLITICS not in labels else POLITICS


def predict(model: TopicModel, lexicon: Lexicon, rows: list[Example], short: bool) -> list[str]:
    out = []
    for e in rows:
        text = e.text[:SHORT_CHARS] if short else e.text
        out.append(classify_article(model, lexicon, title=e.title, text=text).topic or "")
    return out


def docs_per_second(model: TopicModel, lexicon: Lexicon, rows: list[Example], short: bool) -> float:
    """Best of five single-threaded passes: other processes on the machine only slow a pass."""
    predict(model, lexicon, rows[:50], short)  # warm the caches
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        predict(model, lexicon, rows, short)
        best = min(best, time.perf_counter() - start)
    return len(rows) / best


# The bars on the development set's outlet-held-out figures.
DEV_BARS = {("feed", "all"): 0.80, ("article", "all"): 0.80}
DEV_LANGUAGE_BAR = 0.75


def _cell(table, key) -> str:
    ok, n = table.get(key, (0, 0))
    return f"{ok / n:.3f} ({n:>3})" if n else "   -       "


def fold_models(model: TopicModel, stacks: dict[int, tuple]) -> dict[int, TopicModel]:
    """Per outlet fold, the model with the second layer fitted without that fold's outlets,
    scaled by the shipped temperature as bench/build_topic_model.py scales it."""
    import dataclasses

    temperature = model.meta.get("stack", {}).get("temperature", 1.0)
    return {
        k: dataclasses.replace(model, stack_weights=w / temperature, stack_bias=b / temperature)
        for k, (w, b) in stacks.items()
    }


def pipeline_report(model: TopicModel, lexicon: Lexicon, items, stacks: dict[int, tuple]):
    """Articles as ``newsbeam run`` would see them: our extractor's text, the page's declared
    sections and keywords, the detected language; neutral URLs. Outlet-held-out: each page is
    classified with a second layer fitted without its outlet; in-sample: the shipped one."""
    from transforms.enrichment.language import detect_language, load_identifier

    identifier = load_identifier()
    articles = topic_dev.pipeline_articles(items)
    held = fold_models(model, stacks)
    table: dict[tuple[str, str], list[int]] = {}
    sources: dict[str, int] = {}
    for item, article in zip(items, articles):
        if article is None:
            continue
        language = detect_language(identifier, article.title, article.text, None)[0]
        if language not in topic_dev.LANGUAGES:
            continue
        for name, used in (("in-sample", model), ("held-out", held.get(topic_dev.outlet_fold(item.outlet), model))):
            result = classify_article(
                used, lexicon, title=article.title, text=article.text, language=language,
                url=article.url, sections=article.sections, keywords=article.page_keywords,
            )
            for key in (language, "all"):
                cell = table.setdefault((name, key), [0, 0])
                cell[0] += result.topic in item.gold
                cell[1] += 1
            if name == "held-out":
                sources[result.source_kind] = sources.get(result.source_kind, 0) + 1
    print("\nfull articles through the pipeline's extract + clean stages (neutral URLs, page")
    print("sections and keywords as evidence):")
    print(f"  {'lang':<4}  {'outlet-held-out':>15}  {'in-sample':>15}  bar")
    for key in ("all", *topic_dev.LANGUAGES):
        cells = []
        for name in ("held-out", "in-sample"):
            ok, n = table.get((name, key), [0, 0])
            cells.append(f"{ok / n if n else 0:.3f} ({n:>3})")
        print(f"  {key:<4}  {cells[0]:>15}  {cells[1]:>15}  {'0.85' if key == 'all' else ''}")
    print("  decided by (held-out): " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())))


def dev_report(model: TopicModel, lexicon: Lexicon, shared: Path) -> list[str]:
    """Print the development-set figures; returns the bars missed."""
    items = topic_dev.load_dev(shared)
    languages = topic_dev.detect_languages(items)
    results = [
        classify_article(model, lexicon, title=i.title, text=i.text, language=lang)
        for i, lang in zip(items, languages)
    ]
    unseen = [n for n, i in enumerate(items) if not i.in_sample]
    sub = lambda seq: [seq[n] for n in unseen]
    columns = {"in-sample": sub([r.topic for r in results])}
    readable = [n for n in unseen if languages[n] in topic_dev.LANGUAGES]
    held, stacks = {}, {}
    if model.stack_weights is not None:
        rows = [items[n] for n in readable]
        feats = topic_dev.stack_inputs(model, rows)
        stack = model.meta.get("stack", {})
        outlets = [r.outlet for r in rows]
        stacks = topic_dev.fold_stacks(
            feats, [r.gold[0] for r in rows], outlets, model.classes,
            stack.get("c", 0.3), stack.get("class_balance", 0.0),
        )
        logits = topic_dev.held_out_logits(feats, outlets, stacks)
        golds = [r.gold for r in rows]
        proba = topic_dev.softmax(logits, topic_dev.fit_temperature(logits, golds, model.classes))
        for n, p in zip(readable, proba):
            held[n] = (model.classes[int(p.argmax())], float(p.max()))
        columns["outlet-held-out"] = [held.get(n, (None, 0.0))[0] for n in unseen]
    else:
        # Without a second layer nothing was fitted on these outlets.
        columns["outlet-held-out"] = columns["in-sample"]
    print("development set: real news of outlets not in the training data, text only")
    print(f"({len(unseen)} items of {len({items[n].outlet for n in unseen})} outlets; "
          f"{len(items) - len(unseen)} items of training outlets left out)\n")
    tables = {name: topic_dev.accuracy_table(sub(items), sub(languages), pred)
              for name, pred in columns.items()}
    print(f"{'input':<9} {'lang':<4}  {'outlet-held-out':>15}  {'in-sample':>15}  bar")
    failed = []
    for kind in ("feed", "article"):
        for lang in ("all", *topic_dev.LANGUAGES):
            key = (kind, lang)
            bar = DEV_BARS.get(key, DEV_LANGUAGE_BAR)
            ok, n = tables["outlet-held-out"].get(key, (0, 0))
            met = n and ok / n >= bar
            if not met:
                failed.append(f"dev {kind}/{lang}")
            print(f"{kind:<9} {lang:<4}  {_cell(tables['outlet-held-out'], key):>15}  "
                  f"{_cell(tables['in-sample'], key):>15}  {bar:.2f} {'yes' if met else 'NO'}")
    pipeline_report(
        model, lexicon, [items[n] for n in unseen if items[n].kind == "article"], stacks
    )
    others = [n for n in unseen if languages[n] not in topic_dev.LANGUAGES]
    abstained = sum(results[n].topic is None for n in others)
    print(f"\nother languages: {len(others)} items, {abstained} without a topic "
          f"(topic_source unsupported_language), {len(others) - abstained} decided by hints")
    correct = {}
    for n in readable:
        pred = columns["outlet-held-out"][unseen.index(n)]
        if pred in items[n].gold:
            correct[pred] = correct.get(pred, 0) + 1
    missing = sorted(set(lexicon.labels) - set(correct))
    print(f"topics predicted correctly at least once: {len(correct)} of {len(lexicon.labels)}"
          + (f" (never: {', '.join(lexicon.labels[c] for c in missing)})" if missing else ""))
    if missing:
        failed.append("dev: not every topic predicted correctly")
    if held:
        scores = [held[n][1] for n in readable]
        right = [held[n][0] in items[n].gold for n in readable]
        ece, bins = topic_dev.calibration(scores, right)
        print(f"\ncalibration of topic_score (outlet-held-out, {len(scores)} items): "
              f"expected calibration error {ece:.3f}")
        print(f"{'score':>11}  {'items':>5}  {'mean score':>10}  {'accuracy':>8}")
        for low, high, count, mean, acc in bins:
            print(f"{low:.1f} - {high:.1f}  {count:>5}  {mean:>10.3f}  {acc:>8.3f}")
    print()
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", metavar="DIR", help="model directory (default: shipped model)")
    args = parser.parse_args(argv)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # "discarding data" per page
    data = shared_data_dir() / "topics"
    if not data.is_dir():
        print(
            f"topic_quality: no shared data at {data}; set NEWSBEAM_SHARED_DATA. Nothing measured."
        )
        return 0
    model, lexicon = TopicModel.load(args.model), Lexicon.load()
    failed = dev_report(model, lexicon, data.parent)
    held_out = [e for e in load_shared_topics(data) if e.held_out]
    groups: dict[tuple[str, str], list[Example]] = {}
    for e in held_out:
        groups.setdefault((e.dataset, e.language), []).append(e)

    print(f"model: {args.model or 'shipped default'}; held-out rows, text only\n")
    print("acc desk: a topic the data set cannot label (crime, conflict, disaster …) counted as")
    print("its catch-all desk, politics (AG 'World', 10kGNAD 'International'/'Inland' …)\n")
    header = f"{'data set':<14} {'lang':<4} {'rows':>5}  {'acc':>6}  {'acc desk':>8}  {'macro-F1':>8}  {'acc short':>9}"
    print(header)
    print("-" * len(header))
    for (dataset, language), rows in sorted(groups.items()):
        gold = [e.label for e in rows]
        pred, pred_short = predict(model, lexicon, rows, False), predict(model, lexicon, rows, True)
        acc = float(np.mean([g == p for g, p in zip(gold, pred)]))
        acc_short = float(np.mean([g == p for g, p in zip(gold, pred_short)]))
        desk = [desk_of(p, set(gold)) for p in pred]
        acc_desk = float(np.mean([g == p for g, p in zip(gold, desk)]))
        name = NAMES.get(dataset, "SIB-200" if dataset == "sib200" else dataset)
        print(
            f"{name:<14} {language:<4} {len(rows):>5}  {acc:>6.3f}  {acc_desk:>8.3f}"
            f"  {macro_f1(gold, pred):>8.3f}  {acc_short:>9.3f}"
        )

    rows = sorted(held_out, key=lambda e: e.key)
    long_rows = [e for e in rows if len(e.text) >= LONG_CHARS]
    print()
    for label, speed_rows, short in (
        ("all held-out rows", rows, False),
        (f"articles of {LONG_CHARS:,}+ chars", long_rows, False),
        (f"feed items (title + {SHORT_CHARS} chars)", rows, True),
    ):
        speed = docs_per_second(model, lexicon, speed_rows, short)
        ok = "yes" if speed >= SPEED_BAR else "NO"
        if ok == "NO":
            failed.append(f"speed of {label}")
        print(f"speed, {label:<34} {speed:>7,.0f} docs/s on one core (bar {SPEED_BAR:,.0f})  {ok}")
    print(f"\nbars missed: {', '.join(failed)}" if failed else "\nall bars met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
