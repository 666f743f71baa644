"""Topic classification speed of several models side by side, in one process, one core.

    python bench/topic_speed.py default research [DIR …] [--reference]

``--reference`` times each model a second time through the numpy reference (``compiled=False``:
``vectorize`` and a take of the weight rows instead of the compiled kernel), in the same run.

Times ``classify_article`` (the pipeline's code path) on the held-out rows of the shared topic
data, best of five passes each, the models' passes taking turns: articles of 3,000+
characters, all rows, and feed items (title + 300 characters). Running the models in one
invocation, interleaved, makes their ratio meaningful on a machine whose speed drifts.
"""

from __future__ import annotations

import dataclasses
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topic_quality import LONG_CHARS, predict, shared_data_dir

from transforms.enrichment.topic import Lexicon, TopicModel
from transforms.enrichment.topic_train import load_shared_topics


def interleaved_speeds(
    models: list[TopicModel], lexicon: Lexicon, rows: list, short: bool
) -> list[float]:
    """docs/s of each model, best of five passes, the models' passes taking turns: a machine
    whose speed drifts then slows every model alike instead of whichever ran last."""
    for model in models:
        predict(model, lexicon, rows[:50], short)  # warm the caches (and load the kernel)
    best = [float("inf")] * len(models)
    for _ in range(5):
        for k, model in enumerate(models):
            start = time.perf_counter()
            predict(model, lexicon, rows, short)
            best[k] = min(best[k], time.perf_counter() - start)
    return [len(rows) / b for b in best]


def main(argv: list[str]) -> int:
    data = shared_data_dir() / "topics"
    if not data.is_dir():
        print(f"topic_speed: no shared data at {data}; nothing measured")
        return 0
    reference = "--reference" in argv
    names = [a for a in argv if a != "--reference"] or ["default"]
    lexicon = Lexicon.load()
    rows = sorted((e for e in load_shared_topics(data) if e.held_out), key=lambda e: e.key)
    long_rows = [e for e in rows if len(e.text) >= LONG_CHARS]
    labels, models = [], []
    for name in names:
        model = TopicModel.load(None if name == "default" else name)
        labels.append(name)
        models.append(model)
        if reference:
            labels.append(f"{name} (numpy)")
            models.append(dataclasses.replace(model, compiled=False))
    columns = [
        interleaved_speeds(models, lexicon, long_rows, False),
        interleaved_speeds(models, lexicon, rows, False),
        interleaved_speeds(models, lexicon, rows, True),
    ]
    print(f"{'model':<24} {'3,000+ chars':>12} {'all rows':>9} {'feed items':>10}  (docs/s)")
    for k, label in enumerate(labels):
        speeds = [column[k] for column in columns]
        print(f"{label:<24} {speeds[0]:>12,.0f} {speeds[1]:>9,.0f} {speeds[2]:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
