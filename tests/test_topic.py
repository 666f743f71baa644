"""Topic stage: features, the shipped model, evidence combination, DoFn, transform and CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline import topics_cli
from transforms.records import Article
from transforms.enrichment.topic import (
    ClassifyTopics,
    FeatureSpec,
    Lexicon,
    TopicError,
    TopicModel,
    TopicResult,
    _ClassifyFn,
    classify_article,
    combine_evidence,
    default_model_dir,
    feature_buckets,
    normalize_codepoints,
    tag_votes,
    url_hint,
    vectorize,
)

POLITICS, SPORT, ECONOMY, WEATHER = (
    "medtop:11000000",
    "medtop:15000000",
    "medtop:04000000",
    "medtop:17000000",
)
SEED_TITLE = "Putin sucht die Nähe zu China"
SEED_TEXT = (
    "Die NATO befürchtet eine militärische Eskalation im Ukraine-Konflikt. Russlands Präsident "
    "Putin sucht derweil den Schulterschluss mit China. Bei einem Treffen in Peking wollen beide "
    "Staaten ihre strategische Partnerschaft ausbauen, während der Westen mit Sanktionen droht."
)
SPORT_TEXT = (
    "Bayern München gewinnt das Spitzenspiel der Bundesliga gegen Dortmund mit 3:1. Der Stürmer "
    "traf zweimal, der Trainer lobte die Mannschaft nach dem Abpfiff."
)
ECONOMY_TEXT = (
    "Stock markets fell sharply after the central bank raised interest rates again; "
    "investors fear a recession."
)
FETCHED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return TopicModel.load()


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def _text(cps: np.ndarray) -> str:
    return "".join(chr(c) for c in cps)


def _article(**kw) -> Article:
    base = {
        "id": "a1",
        "url": "https://example.org/a1.html",
        "final_url": "https://example.org/a1.html",
        "feed_url": "https://example.org/feed.xml",
        "source": "example",
        "title": "",
        "summary": "",
        "text": "",
        "text_source": "page",
        "fetched_at": FETCHED,
    }
    return Article(**{**base, **kw})


# --- features --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title, text, expected",
    [
        ("Putin", "Die NATO, 2024!", " putin die nato 0000 "),
        ("", "Straße  &  Ökonomie", " straße ökonomie "),
        ("", "", " "),
        ("", "emoji😀between", " emoji between "),
    ],
)
def test_normalize_codepoints(title: str, text: str, expected: str) -> None:
    assert _text(normalize_codepoints(title, text, 3000)) == expected


def test_normalize_codepoints_reads_only_max_chars() -> None:
    assert _text(normalize_codepoints("", "abcdef ghi", 4)) == " abc "


@pytest.mark.parametrize(
    "title, text, max_chars, expected",
    [
        ("Putin", "Die NATO", 3000, " putin putin die nato "),
        ("", "Die NATO", 3000, " die nato "),  # no title, nothing to repeat
        ("Putin", "Die NATO", 12, " putin putin "),  # the repeats count against max_chars
    ],
)
def test_normalize_codepoints_repeats_the_title(
    title: str, text: str, max_chars: int, expected: str
) -> None:
    assert _text(normalize_codepoints(title, text, max_chars, title_repeat=2)) == expected


def test_title_repeat_weighs_title_words_more() -> None:
    once = FeatureSpec(word_ngrams=(1,), char_ngrams=())
    twice = dataclasses.replace(once, title_repeat=2)
    (goal, match), _ = feature_buckets(normalize_codepoints("", "goal match", 100), once)
    for spec, ratio in ((once, 1.0), (twice, 1.0 + np.log(2.0))):
        idx, val = vectorize("goal", "match", spec)
        value = dict(zip(idx.tolist(), val.tolist()))
        assert value[goal] / value[match] == pytest.approx(ratio, rel=1e-5)


def test_same_ngram_same_bucket_anywhere() -> None:
    spec = FeatureSpec(word_ngrams=(1,), char_ngrams=())
    words, chars = feature_buckets(normalize_codepoints("", "foo bar foo", 100), spec)
    assert len(chars) == 0
    assert len(words) == 3 and words[0] == words[2] != words[1]
    assert ((0 <= words) & (words < 1 << spec.buckets_log2)).all()


def test_word_bigram_matches_same_bigram_elsewhere() -> None:
    spec = FeatureSpec(word_ngrams=(2,), char_ngrams=())
    a, _ = feature_buckets(normalize_codepoints("", "new york times", 100), spec)
    b, _ = feature_buckets(normalize_codepoints("", "in new york", 100), spec)
    assert a[0] == b[1]


def test_vectorize_groups_are_unit_length() -> None:
    spec = FeatureSpec(word_weight=1.0, char_weight=0.5)
    idx, val = vectorize("Titel", "ein kurzer Text über Fußball und Politik", spec)
    assert idx.dtype == np.int32 and val.dtype == np.float32
    assert float(np.dot(val, val)) == pytest.approx(1.0 + 0.25, rel=1e-5)


def test_vectorize_empty() -> None:
    idx, val = vectorize("", "", FeatureSpec())
    assert len(idx) == 0 and len(val) == 0


def test_feature_spec_round_trip_and_unknown_key() -> None:
    spec = FeatureSpec(buckets_log2=12, char_ngrams=(2, 3))
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match="unknown feature settings"):
        FeatureSpec.from_dict({"bucket": 3})
    with pytest.raises(ValueError, match="buckets_log2 must be in"):
        FeatureSpec(buckets_log2=40)
    with pytest.raises(ValueError, match="title_repeat must be in"):
        FeatureSpec(title_repeat=0)
    # Model files written before title_repeat existed read the title once, as they were trained.
    old = {k: v for k, v in FeatureSpec(title_repeat=2).to_dict().items() if k != "title_repeat"}
    assert FeatureSpec.from_dict(old).title_repeat == 1


# --- the shipped model -----------------------------------------------------------------------


def test_seed_article_is_politics(model: TopicModel, lexicon: Lexicon) -> None:
    result = classify_article(model, lexicon, title=SEED_TITLE, text=SEED_TEXT, language="de")
    assert result.topic == POLITICS
    assert result.topic_label == "politics"
    assert result.topic_source == "model"
    assert result.topics[0] == POLITICS and len(result.topics) == 3
    assert result.topic_scores[0] == result.topic_score > 0.5
    assert list(result.topic_scores) == sorted(result.topic_scores, reverse=True)


@pytest.mark.parametrize(
    "title, text, expected",
    [
        ("", SPORT_TEXT, SPORT),
        ("Shares fall as inflation bites", ECONOMY_TEXT, ECONOMY),
    ],
)
def test_shipped_model_obvious_cases(model, lexicon, title: str, text: str, expected: str) -> None:
    assert classify_article(model, lexicon, title=title, text=text).topic == expected


def test_probabilities_sum_to_one(model: TopicModel) -> None:
    proba = model.predict_proba(SEED_TITLE, SEED_TEXT)
    assert proba.shape == (len(model.classes),)
    assert float(proba.sum()) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("name", ["commercial", "research"])
def test_shipped_models_are_small_and_pickle_free(name: str) -> None:
    folder = Path(str(default_model_dir(name)))
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["config.json", "seeds.yaml", "weights.npz"]
    assert sum(p.stat().st_size for p in folder.iterdir()) < 25 * 2**20
    with np.load(folder / "weights.npz", allow_pickle=False) as npz:
        expected = ["bias", "idf", "scales", "stack_bias", "stack_weights", "weights"]
        assert sorted(npz.files) == expected
        assert all(npz[name].dtype != object for name in npz.files)
    model = TopicModel.load(name)
    assert len(model.classes) == 17 and model.languages == ("de", "en")


def test_load_refuses_pickled_arrays(tmp_path: Path) -> None:
    folder = Path(str(default_model_dir()))
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    with zipfile.ZipFile(tmp_path / "weights.npz", "w") as archive:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.array([{"code": 1}], dtype=object), allow_pickle=True)
        for name in ("weights", "scales", "bias", "idf"):
            archive.writestr(f"{name}.npy", buffer.getvalue())
    with pytest.raises(ValueError, match="pickle"):
        TopicModel.load(tmp_path)


# --- evidence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "https://www.spiegel.de/politik/deutschland/putin-china-a-123.html",
            (POLITICS, "/politik/"),
        ),
        ("https://www.bbc.co.uk/sport/football/123456", (SPORT, "/football/")),
        ("https://www.zeit.de/wirtschaft/", (ECONOMY, "/wirtschaft/")),
        ("https://www.example.de/b%C3%B6rse/dax-123.html", (ECONOMY, "/börse/")),
        ("https://sport.orf.at/stories/3100000/", (SPORT, "sport.orf.at")),
        ("https://example.com/news/politik-und-sport.html", None),  # a slug, not a desk
        ("https://example.com/panorama/unfall-123.html", None),  # an ambiguous desk
        ("", None),
        (None, None),
    ],
)
def test_url_hint(lexicon: Lexicon, url, expected) -> None:
    assert url_hint(url, lexicon) == expected


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["Politik", "Ausland"], {POLITICS: 1}),
        (["Sport", "Fußball"], {SPORT: 2}),
        (["Science & Technology"], {"medtop:13000000": 1}),
        (["Wirtschaft", "Politik"], {ECONOMY: 1, POLITICS: 1}),
        (["Meinung"], {}),
    ],
)
def test_tag_votes(lexicon: Lexicon, tags, expected) -> None:
    assert tag_votes(tags, lexicon) == expected


def _combine(model, lexicon, scores, url=None, votes=None, feed=None) -> TopicResult:
    return combine_evidence(scores, url, votes or {}, feed, model, lexicon)


def test_feed_topic_wins(model, lexicon) -> None:
    result = _combine(model, lexicon, {SPORT: 0.9, POLITICS: 0.1}, feed=WEATHER)
    assert result == TopicResult(
        WEATHER, "weather", 1.0, (WEATHER, SPORT, POLITICS), (1.0, 0.9, 0.1), "feed"
    )


def test_url_desk_overrules_unsure_model(model, lexicon) -> None:
    result = _combine(model, lexicon, {SPORT: 0.55, POLITICS: 0.45}, url=(POLITICS, "/politik/"))
    assert result == TopicResult(
        POLITICS, "politics", 0.6562, (POLITICS, SPORT), (0.6562, 0.3438), "url:/politik/"
    )


def test_url_desk_agreeing_with_model(model, lexicon) -> None:
    result = _combine(model, lexicon, {SPORT: 0.3, POLITICS: 0.7}, url=(POLITICS, "/politik/"))
    assert (result.topic, result.topic_score, result.topic_source) == (
        POLITICS,
        0.8125,
        "url:/politik/+model",
    )
    assert result.source_kind == "url+model"


def test_confident_model_overrules_url_desk(model, lexicon) -> None:
    result = _combine(model, lexicon, {SPORT: 0.95, POLITICS: 0.05}, url=(POLITICS, "/politik/"))
    assert (result.topic, result.topic_source) == (SPORT, "model")


def test_tags_and_url_and_model(model, lexicon) -> None:
    result = _combine(
        model, lexicon, {SPORT: 0.8, POLITICS: 0.2}, url=(SPORT, "/sport/"), votes={SPORT: 2}
    )
    assert (result.topic, result.topic_score, result.topic_source) == (
        SPORT,
        0.9,
        "url:/sport/+tags+model",
    )
    assert result.source_kind == "url+tags+model"


def test_tags_split_their_weight(model, lexicon) -> None:
    result = _combine(model, lexicon, {}, votes={ECONOMY: 3, POLITICS: 1})
    assert result.topics == (ECONOMY, POLITICS)
    assert result.topic_scores == (0.75, 0.25)
    assert result.topic_source == "tags"


def test_hint_outside_model_classes(model, lexicon) -> None:
    result = _combine(model, lexicon, {}, url=(WEATHER, "/wetter/"))
    assert result == TopicResult(WEATHER, "weather", 1.0, (WEATHER,), (1.0,), "url:/wetter/")


def test_no_evidence_gives_empty_result(model, lexicon) -> None:
    result = classify_article(model, lexicon, title=" ", text="")
    assert result == TopicResult()
    assert result.source_kind == "none"


def test_feed_topic_by_name_and_unknown(model, lexicon) -> None:
    by_name = classify_article(model, lexicon, title="x", text="y", feed_topic="Weather")
    assert (by_name.topic, by_name.topic_source) == (WEATHER, "feed")
    with pytest.raises(TopicError, match="medtop:99"):
        classify_article(model, lexicon, title="x", text="y", feed_topic="medtop:99")


def test_lexicon_validation(lexicon: Lexicon) -> None:
    taxonomy = {"topics": [{"code": c, "label": l} for c, l in lexicon.labels.items()]}
    assert len(taxonomy["topics"]) == 17
    with pytest.raises(ValueError, match="listed under"):
        Lexicon.from_data({"topics": {POLITICS: ["Wahl"], SPORT: ["wahl"]}}, taxonomy)
    with pytest.raises(ValueError, match="not an IPTC top-level code"):
        Lexicon.from_data({"topics": {"medtop:20000002": ["film"]}}, taxonomy)
    with pytest.raises(ValueError, match="url_weight"):
        Lexicon.from_data({"url_weight": -1, "topics": {}}, taxonomy)
    assert Lexicon.from_data({"topics": {SPORT: ["Fußball"]}}, taxonomy).terms == {
        "fussball": SPORT
    }


# --- DoFn, transform, CLI ----------------------------------------------------------------------


def _expected(article: Article, model, lexicon) -> Article:
    result = classify_article(
        model,
        lexicon,
        title=article.title,
        text=article.text or article.summary,
        url=article.url,
        tags=article.tags,
        feed_topic=article.feed_topic,
    )
    return dataclasses.replace(article, **dataclasses.asdict(result))


def test_dofn_fills_topic_fields(model, lexicon) -> None:
    fn = _ClassifyFn(None)
    fn.setup()
    article = _article(title=SEED_TITLE, text=SEED_TEXT)
    (out,) = list(fn.process(article))
    assert out == _expected(article, model, lexicon)
    assert out.topic == POLITICS and out.topic_source == "model"


def test_dofn_reads_summary_when_text_is_empty(model, lexicon) -> None:
    fn = _ClassifyFn(None)
    fn.setup()
    article = _article(summary=SPORT_TEXT, url="https://example.org/sport/a1.html")
    (out,) = list(fn.process(article))
    assert (out.topic, out.topic_source) == (SPORT, "url:/sport/+model")


def test_classify_topics_transform(model, lexicon) -> None:
    seed = _article(id="seed", title=SEED_TITLE, text=SEED_TEXT)
    declared = _article(
        id="feed", url="https://example.org/b.html", text=SPORT_TEXT, feed_topic=WEATHER
    )
    tagged = _article(id="tags", url="https://example.org/c.html", text=SPORT_TEXT, tags=("Sport",))
    bad = _article(id="bad", url="https://example.org/bad.html", text="x", feed_topic="nonsense")
    expected = [_expected(a, model, lexicon) for a in (seed, declared, tagged)]
    assert [a.topic_source for a in expected] == ["model", "feed", "tags+model"]
    with TestPipeline() as p:
        ok, dead = p | beam.Create([seed, declared, tagged, bad]) | ClassifyTopics()
        assert_that(ok, equal_to(expected), label="CheckArticles")
        dead_keys = dead | beam.Map(lambda d: (d.stage, d.url, d.error_type))
        assert_that(
            dead_keys,
            equal_to([("topic", "https://example.org/bad.html", "TopicError")]),
            label="CheckDeadLetters",
        )


def test_classify_cli_keeps_order_and_matches_stage(monkeypatch, capsys, model, lexicon) -> None:
    items = [
        {"id": 1, "title": SEED_TITLE, "text": SEED_TEXT, "language": "de"},
        {"title": "", "text": SPORT_TEXT, "url": "https://example.org/sport/x.html"},
        {
            "title": "Wetterwarnung",
            "text": "Sturm",
            "tags": ["Wetter"],
            "feed_topic": "medtop:17000000",
        },
    ]
    lines = [json.dumps(i, ensure_ascii=False) for i in items] + ["", "not json", "[1]"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert topics_cli.main(["classify"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 5
    assert out[0]["id"] == 1 and out[0]["topic"] == POLITICS and out[0]["topic_label"] == "politics"
    assert out[1]["topic_source"] == "url:/sport/+model"
    assert out[2]["topic_source"] == "feed"
    assert "error" in out[3] and "error" in out[4]
    for item, answer in zip(items, out):
        article = _article(
            title=item["title"],
            text=item["text"],
            url=item.get("url", ""),
            tags=tuple(item.get("tags", ())),
            feed_topic=item.get("feed_topic"),
        )
        stage = _expected(article, model, lexicon)
        assert answer["topic"] == stage.topic
        assert answer["topic_score"] == stage.topic_score
        assert tuple(answer["topics"]) == stage.topics
        assert tuple(answer["topic_scores"]) == stage.topic_scores
        assert answer["topic_source"] == stage.topic_source


def test_cli_help_has_examples() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="newsbeam")
    sub = parser.add_subparsers(dest="command")
    topics_cli.register(sub)
    for name in ("classify", "train-topics"):
        text = sub.choices[name].format_help()
        assert "example" in text and "--model" in sub.choices["classify"].format_help()
        assert sub.choices[name].get_default("func") is not None
    run = argparse.ArgumentParser()
    topics_cli.add_model_arg(run)
    assert run.parse_args(["--model", "m"]).model == "m"


def test_classify_topics_counters() -> None:
    from apache_beam.metrics.metric import MetricsFilter

    articles = [
        _article(id="m", title=SEED_TITLE, text=SEED_TEXT),
        _article(id="f", text=SPORT_TEXT, feed_topic=WEATHER),
        _article(id="u", text=SPORT_TEXT, url="https://example.org/sport/u.html"),
        _article(id="e"),
    ]
    p = TestPipeline()
    _ = p | beam.Create(articles) | ClassifyTopics()
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("topic"))["counters"]
    totals = {c.key.metric.name: c.committed for c in counters}
    assert totals == {
        "in": 4,
        "out": 4,
        "source:model": 1,
        "source:feed": 1,
        "source:url+model": 1,
        "source:none": 1,
    }


def test_the_shipped_names_say_which_data_each_model_learnt_from() -> None:
    # The default is the research model (docs/MODEL_CARD.md: the commercial one scored more
    # than 0.03 below it); "commercial" must name a model of commercial-use data only.
    def trained_on(name: str) -> str:
        folder = Path(str(default_model_dir(name)))
        return json.loads((folder / "config.json").read_text())["training"]["data"]

    assert default_model_dir("default") == default_model_dir("research")
    assert trained_on("commercial") == "commercial-use data only"
    assert trained_on("research") == "all shared topic data"
    assert TopicModel.load("commercial").languages == ("de", "en")
