"""``newsbeam classify`` and ``newsbeam train-topics``.

``pipeline/cli.py`` calls :func:`register` with its subparsers; :func:`add_model_arg` gives any
other subcommand the same ``--model DIR`` option. Run alone, ``python -m pipeline.topics_cli``
offers just these two subcommands.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # transforms.enrichment.topic loads Beam and numpy: imported where used, not for --help
    from transforms.enrichment.topic import Lexicon, TopicModel

CLASSIFY_EXAMPLE = """\
example:
  echo '{"title": "Putin sucht die Nähe zu China", "text": "Die NATO befürchtet ..."}' \\
    | newsbeam classify
  -> {"topic": "medtop:11000000", "topic_label": "politics", "topic_score": 0.98, ...}

Each input line is a JSON object with "title" and "text" and optionally "language" (detected
from the text when missing, as the pipeline does), "url", "tags" (list of RSS categories),
"sections" and "keywords" (lists: the page's declared sections and keyword tags), "feed_topic"
(IPTC code) and "id" (copied to the output). Text in a language the model was not trained on
gets no topic unless a hint decides (topic_source "unsupported_language:<code>").
Each output line has topic, topic_label, topic_score, topics, topic_scores, topic_source, in
input order; a line that cannot be read gives {"error": ...} and the exit code 1.
"""

TRAIN_EXAMPLE = """\
examples:
  newsbeam train-topics --data labels.csv --text-col body --label-col desk --out my-model
  newsbeam train-topics --from-output out/ --out desk-model
  newsbeam train-topics --shared-data ../shared/data/topics --out plain-model
  newsbeam classify --model my-model < items.jsonl

Labels that are IPTC top-level codes (medtop:11000000) or their English names (politics) become
IPTC codes; any other label is kept as it is and becomes a class of its own, reported as both
topic and topic_label. URL-desk and category hints still point at IPTC codes and are added as
extra candidates. --from-output labels articles of a newsbeam output directory by their URL
desk (/sport/, /politik/ ...; configs/topic_hints.yaml): weak labels, a desk is the publisher's
filing, not a reading of the text. --shared-data trains on the shared data sets as they are (the
shipped models add weak labels, seed words and a second layer: bench/build_topic_model.py); it leaves
out exactly the rows bench/topic_quality.py evaluates on.
"""


def add_model_arg(parser: argparse.ArgumentParser) -> None:
    """``--model DIR|NAME``: a directory written by ``train-topics``, or a shipped model's
    name (``default`` = ``research``, ``commercial``); default the shipped default model."""
    parser.add_argument(
        "--model",
        metavar="DIR|NAME",
        default=None,
        help="topic model: a directory written by train-topics, or a shipped model: 'research'"
        " (the default; it also learnt from non-commercial and research-use data) or"
        " 'commercial' (trained on commercial-use data only; see docs/MODEL_CARD.md)",
    )


def register(subparsers: Any) -> None:
    """Add ``classify`` and ``train-topics`` to an argparse subparsers object."""
    fmt = argparse.RawDescriptionHelpFormatter
    classify = subparsers.add_parser(
        "classify",
        help="topic of JSON lines read on stdin",
        description="Classify JSON lines from stdin into IPTC Media Topics.",
        epilog=CLASSIFY_EXAMPLE,
        formatter_class=fmt,
    )
    add_model_arg(classify)
    classify.set_defaults(func=run_classify)

    train = subparsers.add_parser(
        "train-topics",
        help="train a topic model on your labels",
        description="Train a topic model (needs scikit-learn) and write it to --out.",
        epilog=TRAIN_EXAMPLE,
        formatter_class=fmt,
    )
    train.add_argument(
        "--data", metavar="FILE", type=Path, help="labelled .csv, .jsonl or .parquet"
    )
    train.add_argument("--text-col", default="text", help="text column of --data (default: text)")
    train.add_argument(
        "--title-col", default="title", help="optional title column of --data (default: title)"
    )
    train.add_argument(
        "--label-col", default="label", help="label column of --data (default: label)"
    )
    train.add_argument(
        "--from-output",
        metavar="DIR",
        type=Path,
        help="newsbeam output dir: weak labels from URL desks",
    )
    train.add_argument(
        "--shared-data",
        metavar="DIR",
        type=Path,
        help="shared/data/topics: the default model's data",
    )
    train.add_argument(
        "--out", metavar="DIR", type=Path, required=True, help="model directory to write"
    )
    train.set_defaults(func=run_train)


def _classify_line(
    line: str, model: TopicModel, lexicon: Lexicon, identifier: Any = None
) -> dict[str, Any]:
    from transforms.enrichment.language import detect_language
    from transforms.enrichment.topic import TopicError, classify_article

    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        return {"error": f"not JSON: {e}"}
    if not isinstance(item, dict):
        return {"error": "expected a JSON object"}
    lists = {k: item.get(k) or () for k in ("tags", "sections", "keywords")}
    fields = ("title", "text", "language", "url", "feed_topic")
    if any(isinstance(v, (str, dict)) for v in lists.values()) or any(
        item.get(k) is not None and not isinstance(item[k], str) for k in fields
    ):
        return {
            "error": "title, text, language, url, feed_topic must be strings;"
            " tags, sections, keywords lists"
        }
    title, text, language = item.get("title") or "", item.get("text") or "", item.get("language")
    if language is None and identifier is not None:
        # The pipeline detects the language before the topic stage; so does classify, so that
        # both give the same answer for the same text.
        language = detect_language(identifier, title, text, None)[0]
    try:
        result = classify_article(
            model,
            lexicon,
            title=title,
            text=text,
            language=language,
            url=item.get("url"),
            tags=[str(t) for t in lists["tags"]],
            feed_topic=item.get("feed_topic"),
            sections=[str(t) for t in lists["sections"]],
            keywords=[str(t) for t in lists["keywords"]],
        )
    except TopicError as e:
        return {"error": str(e)}
    out = {"id": item["id"]} if "id" in item else {}
    out.update(
        topic=result.topic,
        topic_label=result.topic_label,
        topic_score=result.topic_score,
        topics=list(result.topics),
        topic_scores=list(result.topic_scores),
        topic_source=result.topic_source,
    )
    return out


def classify_lines(
    lines: TextIO, out: TextIO, model: TopicModel, lexicon: Lexicon, identifier: Any = None
) -> int:
    """One output line per non-blank input line, in order; the number of failed lines.

    ``identifier`` (py3langid) detects the language of lines that do not give one."""
    failed = 0
    for line in lines:
        if not line.strip():
            continue
        answer = _classify_line(line, model, lexicon, identifier)
        failed += "error" in answer
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return failed


def load_model(path: str | None) -> TopicModel:
    """The topic model in ``path`` (None: the shipped one); a directory that is not one is a
    ConfigError naming it, one line."""
    from pipeline.config import ConfigError
    from transforms.enrichment.topic import SHIPPED_MODELS, TopicModel

    if path is not None and path not in SHIPPED_MODELS and not Path(path).is_dir():
        names = ", ".join(sorted(SHIPPED_MODELS))
        raise ConfigError(
            f"--model {path}: no such directory (give a directory written by train-topics,"
            f" or a shipped model: {names})"
        )
    try:
        return TopicModel.load(path)
    except (OSError, ValueError, KeyError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"--model {path}: not a topic model directory ({reason})") from None


def run_classify(args: argparse.Namespace) -> int:
    from transforms.enrichment.language import shared_identifier
    from transforms.enrichment.topic import Lexicon

    model = load_model(args.model)
    identifier = shared_identifier() if model.languages else None
    failed = classify_lines(sys.stdin, sys.stdout, model, Lexicon.load(), identifier)
    sys.stdout.flush()
    return 1 if failed else 0


def run_train(args: argparse.Namespace) -> int:
    # scikit-learn is needed here only; classify and the pipeline run without it.
    from transforms.enrichment import topic_train
    from transforms.enrichment.topic import Lexicon

    lexicon = Lexicon.load()
    examples: list[topic_train.Example] = []
    try:
        if args.data:
            examples += topic_train.load_table(
                args.data, lexicon, args.text_col, args.label_col, args.title_col
            )
        if args.from_output:
            examples += topic_train.load_output_weak_labels(args.from_output, lexicon)
        if args.shared_data:
            shared = topic_train.load_shared_topics(args.shared_data)
            examples += [e for e in shared if not e.held_out]
        if not (args.data or args.from_output or args.shared_data):
            print("train-topics: give --data, --from-output or --shared-data", file=sys.stderr)
            return 2
        counts = collections.Counter(e.label for e in examples)
        print(f"training on {len(examples)} rows:", file=sys.stderr)
        for label, n in sorted(counts.items()):
            print(f"  {n:6d}  {label}  {lexicon.labels.get(label, '')}", file=sys.stderr)
        config, arrays = topic_train.train(examples, lexicon.labels)
    except (topic_train.TrainError, OSError) as e:
        print(f"train-topics: {e}", file=sys.stderr)
        return 1
    out = topic_train.save_model(config, arrays, args.out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.topics_cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
