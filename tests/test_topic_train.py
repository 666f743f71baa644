"""Training topic models: split, loaders, train/save/load, and the train-topics command."""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime as dt
import json
import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import topics_cli
from transforms.records import ARTICLE_SCHEMA, Article, to_row
from transforms.enrichment.topic import FeatureSpec, Lexicon, TopicModel, classify_article, default_model_dir
from transforms.enrichment.topic_train import (
    HELD_OUT_SHARE,
    Example,
    TrainError,
    TrainSettings,
    chunk_example,
    is_held_out,
    label_code,
    load_shared_topics,
    load_table,
    save_model,
    train,
)

POLITICS, SPORT = "medtop:11000000", "medtop:15000000"
WORDS = {
    "sport": ["match", "goal", "team", "league", "coach", "striker", "season", "stadium"],
    "politics": ["minister", "parliament", "election", "party", "vote", "coalition", "senate"],
    "gardening": ["tomato", "soil", "compost", "seeds", "roses", "hedge", "pruning", "mulch"],
}
FILLER = ["the", "a", "of", "and", "in", "to", "with", "on", "for", "today"]
REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NEWSBEAM_SHARED_DATA") or REPO.parent / "shared" / "data") / "topics"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def _doc(rng: random.Random, topic: str) -> str:
    return " ".join(rng.choice(WORDS[topic] if rng.random() < 0.5 else FILLER) for _ in range(30))


def _rows(labels: dict[str, str], per_class: int = 20) -> list[dict[str, str]]:
    """Synthetic rows; ``labels`` maps a word list to the label written in the file."""
    rng = random.Random(7)
    return [
        {"body": _doc(rng, topic), "desk": label, "headline": f"{topic} news"}
        for topic, label in labels.items()
        for _ in range(per_class)
    ]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    if path.suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _train_cli(*argv: str) -> int:
    return topics_cli.main(["train-topics", *argv])


# --- split -----------------------------------------------------------------------------------


def test_held_out_split_is_deterministic_and_sized() -> None:
    keys = [f"row{i}" for i in range(4000)]
    flags = [is_held_out("bbc", k) for k in keys]
    assert flags == [is_held_out("bbc", k) for k in keys]
    assert abs(sum(flags) / len(keys) - HELD_OUT_SHARE["bbc"]) < 0.03
    # Another data set splits independently.
    assert flags != [is_held_out("10kgnad", k) for k in keys]


@pytest.mark.parametrize(
    "dataset, key, expected",
    [
        ("sib200", "test/12", True),
        ("sib200", "train/12", False),
        ("sib200", "dev/12", False),
        ("agnews", "train/abc", False),
        ("user", "anything", False),
    ],
)
def test_held_out_fixed_splits(dataset: str, key: str, expected: bool) -> None:
    assert is_held_out(dataset, key) is expected


def _fake_shared(root: Path) -> Path:
    """A tiny stand-in of shared/data/topics with the real formats."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    label_map = {
        "_note": "test",
        "iptc_top": {},
        "10kgnad": {
            "Sport": {"iptc": SPORT},
            "Inland": {"iptc": POLITICS},
            "Panorama": {"iptc": None},
        },
        "agnews": {"1": {"iptc": POLITICS}, "2": {"iptc": SPORT}},
        "bbc": {"sport": {"iptc": SPORT}, "politics": {"iptc": POLITICS}},
        "masakhanews": {"sports": {"iptc": SPORT}, "politics": {"iptc": POLITICS}},
        "sib200": {
            "sports": {"iptc": SPORT},
            "politics": {"iptc": POLITICS},
            "geography": {"iptc": None},
        },
    }
    (root / "label_map_to_iptc_top.json").write_text(json.dumps(label_map))
    (root / "10kgnad").mkdir()
    with open(root / "10kgnad" / "test.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=";", quotechar="'")
        for i in range(30):
            label = ("Sport", "Inland", "Panorama")[i % 3]
            writer.writerow(
                [label, f"{_doc(rng, 'sport' if label == 'Sport' else 'politics')} {i}"]
            )
    (root / "agnews").mkdir()
    for name, n in (("train_first581.csv", 10), ("test.csv", 40)):
        with open(root / "agnews" / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            for i in range(n):
                writer.writerow(
                    [str(i % 2 + 1), f"title {name} {i}", f"{_doc(rng, 'sport')}\\line #36;5"]
                )
    (root / "bbc").mkdir()
    (root / "bbc" / "bbc.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": f"sport/{i:03d}.txt",
                    "label": ("sport", "politics")[i % 2],
                    "title": f"t{i}",
                    "text": _doc(rng, "sport"),
                }
            )
            + "\n"
            for i in range(20)
        )
    )
    (root / "masakhanews" / "eng").mkdir(parents=True)
    for split in ("dev", "test"):
        with open(
            root / "masakhanews" / "eng" / f"{split}.tsv", "w", encoding="utf-8", newline=""
        ) as f:
            writer = csv.writer(f, delimiter="\t")
            writer.writerow(["category", "headline", "text", "url"])
            for i in range(10):
                writer.writerow(
                    [
                        ("sports", "politics")[i % 2],
                        f"h{i}",
                        f"line one\nline {i}",
                        f"/news/{split}-{i}",
                    ]
                )
    for folder in ("deu_Latn", "eng_Latn"):
        (root / "sib200" / folder).mkdir(parents=True)
        for split in ("train", "dev", "test"):
            lines = ["index_id\tcategory\ttext"] + [
                f"{split}{i}\t{('sports', 'politics', 'geography')[i % 3]}\tsentence {i} {split}"
                for i in range(9)
            ]
            (root / "sib200" / folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_load_shared_topics_maps_labels_and_flags_held_out(tmp_path: Path) -> None:
    examples = load_shared_topics(_fake_shared(tmp_path))
    by_set = collections.Counter(e.dataset for e in examples)
    # Panorama and geography have no IPTC code and are dropped.
    assert by_set == {"10kgnad": 20, "agnews": 50, "bbc": 20, "masakhanews": 20, "sib200": 36}
    assert {e.label for e in examples} == {POLITICS, SPORT}
    assert all(e.held_out == is_held_out(e.dataset, e.key) for e in examples)
    sib = [e for e in examples if e.dataset == "sib200"]
    assert {e.held_out for e in sib if e.key.startswith("test/")} == {True}
    assert {e.language for e in sib} == {"de", "en"}
    ag = [e for e in examples if e.dataset == "agnews"]
    assert not any(e.held_out for e in ag if e.key.startswith("train/"))
    assert all("\\" not in e.text and "#36;" not in e.text and "$5" in e.text for e in ag)


def test_train_from_shared_data_skips_exactly_the_held_out_rows(tmp_path: Path) -> None:
    root = _fake_shared(tmp_path / "shared")
    assert _train_cli("--shared-data", str(root), "--out", str(tmp_path / "m")) == 0
    trained = json.loads((tmp_path / "m" / "config.json").read_text())["training"]["rows"]
    expected = collections.Counter(
        f"{e.dataset}:{e.label}" for e in load_shared_topics(root) if not e.held_out
    )
    assert trained == dict(expected)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data/topics not present")
@pytest.mark.parametrize("name", ["commercial", "research"])
def test_shipped_model_never_saw_held_out_rows(name: str) -> None:
    from transforms.enrichment.topic_seeds import Seeds
    from transforms.enrichment.topic_train import COMMERCIAL_DATASETS, default_examples

    folder = Path(str(default_model_dir(name)))
    config = json.loads((folder / "config.json").read_text())
    seeds = Seeds.load(folder / "seeds.yaml")
    datasets = COMMERCIAL_DATASETS if name == "commercial" else None
    examples = default_examples(SHARED, seeds, datasets)
    assert not any(e.held_out for e in examples)
    expected = collections.Counter(f"{e.dataset}:{e.label}" for e in examples)
    assert config["training"]["rows"] == dict(expected)


# --- training --------------------------------------------------------------------------------


def test_chunk_example() -> None:
    example = Example("T", "word " * 200, "x", "user", "", "k")
    chunks = chunk_example(example, 300)
    # 1,000 characters: three windows; the last 100 are less than half a window and left out.
    assert len(chunks) == 3
    assert all(c.title == "" and len(c.text) <= 300 for c in chunks)
    assert "".join(c.text + " " for c in chunks) == example.text[:900]
    assert chunk_example(Example("", "short", "x", "user", "", "k"), 300) == []


def test_train_refuses_held_out_and_single_label() -> None:
    row = Example("", "text", POLITICS, "bbc", "en", "k")
    with pytest.raises(TrainError, match="held-out"):
        train([row, Example("", "t", SPORT, "bbc", "en", "j", held_out=True)])
    with pytest.raises(TrainError, match="two labels"):
        train([row])


@pytest.mark.parametrize(
    "raw, expected",
    [("medtop:15000000", SPORT), (" Politics ", POLITICS), ("Gardening", "Gardening")],
)
def test_label_code(lexicon: Lexicon, raw: str, expected: str) -> None:
    assert label_code(raw, lexicon) == expected


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_train_topics_on_user_file(tmp_path: Path, suffix: str, lexicon: Lexicon) -> None:
    # IPTC codes, IPTC names and a free label in one file.
    rows = _rows({"sport": SPORT, "politics": "politics", "gardening": "Gardening"})
    data = _write(tmp_path / f"labels{suffix}", rows)
    out = tmp_path / "model"
    argv = [
        "--data",
        str(data),
        "--text-col",
        "body",
        "--label-col",
        "desk",
        "--title-col",
        "headline",
    ]
    assert _train_cli(*argv, "--out", str(out)) == 0
    model = TopicModel.load(out)
    assert model.classes == ("Gardening", POLITICS, SPORT)
    assert model.labels == ("Gardening", "politics", "sport")
    rng = random.Random(99)
    for topic, code in (("sport", SPORT), ("politics", POLITICS), ("gardening", "Gardening")):
        result = classify_article(model, lexicon, title="", text=_doc(rng, topic))
        assert (result.topic, result.topic_source) == (code, "model")
    garden = classify_article(model, lexicon, title="", text=_doc(rng, "gardening"))
    assert garden.topic_label == "Gardening"


def test_train_topics_reports_missing_column(tmp_path: Path, capsys) -> None:
    data = _write(tmp_path / "labels.csv", _rows({"sport": SPORT, "politics": POLITICS}))
    assert _train_cli("--data", str(data), "--out", str(tmp_path / "m")) == 1
    assert "no column 'text'" in capsys.readouterr().err


def test_train_topics_needs_a_source(tmp_path: Path) -> None:
    assert _train_cli("--out", str(tmp_path / "m")) == 2


def _desk_examples(tmp_path: Path, lexicon: Lexicon):
    rows = _rows({"sport": SPORT, "politics": POLITICS})
    return load_table(_write(tmp_path / "d.jsonl", rows), lexicon, text_col="body", label_col="desk")


def test_training_is_reproducible_and_pickle_free(tmp_path: Path, lexicon: Lexicon) -> None:
    examples = _desk_examples(tmp_path, lexicon)
    first = save_model(*train(examples, lexicon.labels), tmp_path / "a")
    second = save_model(*train(examples, lexicon.labels), tmp_path / "b")
    for name in ("weights.npz", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    with np.load(first / "weights.npz", allow_pickle=False) as npz:
        assert npz["weights"].dtype == np.int8 and npz["idf"].dtype == np.float16
    # The feature settings training used are the ones the loaded model reads with.
    assert TopicModel.load(first).spec == TrainSettings().spec


def test_trained_model_reads_titles_as_trained(tmp_path: Path, lexicon: Lexicon) -> None:
    # A model trained reading titles twice says so in its config and reads them twice after
    # loading: the same weights reading the title once give other scores.
    examples = _desk_examples(tmp_path, lexicon)
    settings = TrainSettings(spec=FeatureSpec(title_repeat=2), calibration_folds=2)
    config, arrays = train(examples, lexicon.labels, settings)
    assert config["features"]["title_repeat"] == 2
    model = TopicModel.load(save_model(config, arrays, tmp_path / "m"))
    once = dataclasses.replace(model, spec=dataclasses.replace(model.spec, title_repeat=1))
    title, text = "match goal", "minister parliament"
    assert not np.allclose(model.predict_proba(title, text), once.predict_proba(title, text))


def _output_dir(root: Path) -> Path:
    rng = random.Random(5)
    fetched = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    for day, offset in (("2024-05-01", 0), ("2024-05-02", 100)):
        articles = []
        for i in range(24):
            desk, topic = [("sport", "sport"), ("politik", "politics"), ("meinung", "politics")][
                i % 3
            ]
            url = f"https://zeitung.example/{desk}/story-{offset + i}.html"
            articles.append(
                Article(
                    id=str(offset + i),
                    url=url,
                    final_url=url,
                    feed_url="https://zeitung.example/rss",
                    source="zeitung",
                    title=f"{topic} {i}",
                    summary="",
                    text=_doc(rng, topic),
                    text_source="page",
                    fetched_at=fetched,
                )
            )
        folder = root / "articles" / f"date={day}"
        folder.mkdir(parents=True)
        table = pa.Table.from_pylist([to_row(a) for a in articles], schema=ARTICLE_SCHEMA)
        pq.write_table(table, folder / "part-0.parquet")
    return root


def test_train_topics_from_output_uses_url_desks(tmp_path: Path, lexicon: Lexicon, capsys) -> None:
    out = tmp_path / "model"
    assert _train_cli("--from-output", str(_output_dir(tmp_path / "run")), "--out", str(out)) == 0
    assert "16  medtop:15000000" in capsys.readouterr().err  # 8 sport desks a day; meinung dropped
    model = TopicModel.load(out)
    assert model.classes == (POLITICS, SPORT)
    assert model.meta["rows"] == {f"output:{POLITICS}": 16, f"output:{SPORT}": 16}
    text = _doc(random.Random(11), "sport")
    assert classify_article(model, lexicon, title="", text=text).topic == SPORT


def test_from_output_without_articles(tmp_path: Path, capsys) -> None:
    assert _train_cli("--from-output", str(tmp_path), "--out", str(tmp_path / "m")) == 1
    assert "no articles" in capsys.readouterr().err
