"""Train the shipped topic models and fit their second layer on the development set.

    python bench/build_topic_model.py [--out transforms/models] [--which commercial,research]

1. The first layer (hashed n-grams + linear SVM) trains on the shared topic data sets with
   weak labels, seed documents and IPTC definitions (``topic_train.default_examples``); the
   ``commercial`` model keeps only data whose licence allows commercial use, ``research`` reads all.
2. The second layer (``topic_train.fit_stack``) is fitted on the development set's German and
   English items (``bench/topic_dev.py``): real news of outlets the first layer never read.
   Before fitting it on all of them, the same fit is cross-validated by outlet (5 folds), and
   those figures are what the model card reports as outlet-held-out.

Needs ``../shared/data`` (or ``$NEWSBEAM_SHARED_DATA``) and scikit-learn. Takes 10-20 minutes
on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np
import topic_dev

from transforms.enrichment import topic_train
from transforms.enrichment.topic import Lexicon, TopicModel
from transforms.enrichment.topic_seeds import SEEDS_FILE, Seeds

# Two models: "commercial" learns only from data whose licences allow commercial use,
# "research" from all shared topic data (non-commercial and research-use sets too). Which one is
# the default is decided in transforms/enrichment/topic.py (SHIPPED_MODELS) by the outlet
# cross-validation (BENCHMARKS.md).
MODELS = {
    "commercial": ("topic-commercial", topic_train.COMMERCIAL_DATASETS),
    "research": ("topic-research", None),
}
# The second layer's L2 strength (topic_train.fit_stack). Compared by the outlet
# cross-validation at 0.05, 0.1, 0.15, 0.2, 0.3 and 1.0 (BENCHMARKS.md): 0.05-0.2 all predict
# each of the 17 topics correctly at least once and differ by one or two items; 0.3 never gets
# weather right, 1.0 loses 0.01-0.02 everywhere.
STACK_C = 0.2
# Gold topics weigh (mean count / their count) ** STACK_BALANCE in the second layer's fit, so
# that rare topics (labour, religion) are not ruled out by the common ones. Compared by the
# outlet cross-validation at 0, 0.25, 0.5 and 0.75 (BENCHMARKS.md); 0.75 made the seed article
# (NATO, Putin, China) conflict instead of politics.
STACK_BALANCE = 0.5


def shared_data_dir() -> Path:
    return Path(os.environ.get("NEWSBEAM_SHARED_DATA") or REPO.parent / "shared" / "data")


def first_layer(name: str, seeds, refit_from: Path | None):
    """(config, arrays) of the first layer: trained anew, or read from a model directory
    (``--refit-stack``: only the second layer is fitted again)."""
    folder, datasets = MODELS[name]
    if refit_from is not None:
        import json

        source = refit_from / folder
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        with np.load(source / "weights.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if not k.startswith("stack_")}
        config.pop("languages", None)
        config["training"].pop("stack", None)
        return config, arrays
    started = time.time()
    examples = topic_train.default_examples(shared_data_dir() / "topics", seeds, datasets)
    settings = topic_train.TrainSettings(balance_classes=True, calibration_folds=0)
    config, arrays = topic_train.train(examples, Lexicon.load().labels, settings)
    print(f"{name}: first layer on {len(examples)} rows in {time.time() - started:.0f} s")
    return config, arrays


def build(name: str, out_root: Path, items, languages, refit_from: Path | None = None) -> None:
    folder, datasets = MODELS[name]
    seeds_path = REPO / "configs" / SEEDS_FILE
    seeds = Seeds.load(seeds_path)
    config, arrays = first_layer(name, seeds, refit_from)
    model = TopicModel.from_arrays(config, arrays)
    keep = [i for i, lang in enumerate(languages) if lang in topic_dev.LANGUAGES and not items[i].in_sample]
    dev = [items[i] for i in keep]
    feats = topic_dev.stack_inputs(model, dev)
    gold = [d.gold[0] for d in dev]
    logits = topic_dev.outlet_cv_logits(
        feats, gold, [d.outlet for d in dev], model.classes, STACK_C, STACK_BALANCE
    )
    # One temperature for the scores, fitted on the outlet-held-out decision values so that a
    # score says how often the topic is acceptable: the regularised fit alone is too unsure.
    temperature = topic_dev.fit_temperature(logits, [d.gold for d in dev], model.classes)
    proba = topic_dev.softmax(logits, temperature)
    pred = [model.classes[int(j)] for j in proba.argmax(1)]
    table = topic_dev.accuracy_table(dev, [languages[i] for i in keep], pred)
    ece, _ = topic_dev.calibration(proba.max(1), [p in d.gold for p, d in zip(pred, dev)])
    summary = {
        "fitted_on": f"{len(dev)} German and English items of the development set",
        "c": STACK_C,
        "class_balance": STACK_BALANCE,
        "temperature": round(temperature, 4),
        "outlet_cv_accuracy": {f"{k}/{lang}": round(ok / n, 3) for (k, lang), (ok, n) in sorted(table.items())},
        "outlet_cv_ece": round(ece, 3),
    }
    for key, value in summary["outlet_cv_accuracy"].items():
        print(f"  outlet-held-out {key}: {value}")
    print(f"  ECE {ece:.3f}")
    w, b = topic_train.fit_stack(feats, gold, model.classes, STACK_C, topic_train.balance_weights(gold, STACK_BALANCE))
    w, b = w / temperature, b / temperature
    config, arrays = topic_train.with_stack(config, arrays, w, b, topic_dev.LANGUAGES, summary)
    config["training"]["data"] = "commercial-use data only" if datasets else "all shared topic data"
    config["training"]["model"] = name
    topic_train.save_model(config, arrays, out_root / folder, seeds_path.read_text(encoding="utf-8"))
    print(f"  written to {out_root / folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "transforms" / "models"))
    parser.add_argument("--which", default="commercial,research")
    parser.add_argument(
        "--refit-stack",
        metavar="DIR",
        type=Path,
        help="keep the first layers of the models in DIR, fit only the second layer again",
    )
    args = parser.parse_args(argv)
    if not (shared_data_dir() / "topics").is_dir():
        print(f"build_topic_model: no shared data at {shared_data_dir()}", file=sys.stderr)
        return 2
    items = topic_dev.load_dev(shared_data_dir())
    languages = topic_dev.detect_languages(items)
    for name in args.which.split(","):
        build(name, Path(args.out), items, languages, args.refit_stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
