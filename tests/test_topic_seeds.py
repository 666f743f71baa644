"""Seed words, weak labels, page sections as evidence, the stacked layer and language gating."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from lxml import html as lxml_html

from transforms.enrichment import topic_train
from transforms.text.page_sections import page_keywords, page_sections
from transforms.enrichment.topic import (
    Lexicon,
    TopicModel,
    classify_article,
    reads_language,
    section_hint,
)
from transforms.enrichment.topic_seeds import (
    Seeds,
    iptc_documents,
    seed_documents,
    seed_scores,
    weak_label,
)

CRIME, DISASTER, ECONOMY, POLITICS, SPORT, WAR, WEATHER = (
    "medtop:02000000",
    "medtop:03000000",
    "medtop:04000000",
    "medtop:11000000",
    "medtop:15000000",
    "medtop:16000000",
    "medtop:17000000",
)


@pytest.fixture(scope="module")
def seeds() -> Seeds:
    return Seeds.load()


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


# --- seed matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word, expected",
    [
        ("mordprozess", CRIME),  # a prefix seed
        ("prozessor", None),  # "prozess=" (trial) is whole-word only
        ("grossbrand", DISASTER),  # infix seed inside a compound
        ("erdbeben", DISASTER),
        ("seebeben-erdbeben", DISASTER),
        ("kriegt", None),  # "krieg=" is whole-word: "kriegt" (gets) is not war
        ("krieg", WAR),
        ("unwetterwarnung", WEATHER),
        ("firefighters", DISASTER),  # prefix "firefighter"
    ],
)
def test_seed_hits(seeds: Seeds, word: str, expected: str | None) -> None:
    hits = seeds.hits(word)
    if expected is None:
        assert WAR not in hits and CRIME not in hits
    else:
        assert expected in hits


def test_seed_scores_weigh_the_title(seeds: Seeds) -> None:
    scores = seed_scores(seeds, "Erdbeben erschüttert die Region", "Die Regierung berät.")
    assert scores[DISASTER] == 3.0
    assert scores[POLITICS] == 1.0


def test_folding_matches_umlauts_and_sharp_s(seeds: Seeds) -> None:
    assert DISASTER in seed_scores(seeds, "Großbrand", "")
    assert CRIME in seed_scores(seeds, "Festnahme nach Überfall", "")


# --- weak labels: examples and counter-examples from several kinds of desks ------------------

EXPRESSIBLE_AG = {"medtop:11000000", "medtop:15000000", "medtop:04000000", "medtop:13000000"}


@pytest.mark.parametrize(
    "title, text, desk, expected",
    [
        # A murder trial filed under "World" (politics): crime is not an AG News class.
        (
            "Man sentenced for murder of two police officers",
            "A court sentenced the gunman to life in prison after the jury found him guilty.",
            POLITICS,
            CRIME,
        ),
        # An earthquake filed under "World".
        (
            "Earthquake kills dozens, rescuers search rubble",
            "The quake collapsed buildings; rescue teams and emergency services evacuated towns.",
            POLITICS,
            DISASTER,
        ),
        # Counter-example: an election story stays politics although it mentions a court.
        (
            "Parliament passes election law after opposition walkout",
            "The government coalition won the vote; the opposition party will take it to court.",
            POLITICS,
            POLITICS,
        ),
        # Counter-example: a match report keeps its sport desk (sport is expressible).
        (
            "Striker scores twice as league leaders win",
            "The coach praised the team; fans stormed the pitch after the final goal.",
            SPORT,
            SPORT,
        ),
        # Counter-example: one stray seed word is not enough to move a row.
        ("Trade talks resume", "Officials met again; a police escort was present.", POLITICS, POLITICS),
    ],
)
def test_weak_label(seeds: Seeds, title, text, desk, expected) -> None:
    assert weak_label(seeds, title, text, desk, EXPRESSIBLE_AG) == expected


def test_weak_label_without_desk_keeps_strong_rows_only(seeds: Seeds) -> None:
    crime = "Polizei nimmt Tatverdächtigen nach Messerangriff fest"
    text = "Die Staatsanwaltschaft ermittelt, der Festgenommene soll heute dem Haftrichter vorgeführt werden."
    assert weak_label(seeds, crime, text, None, set()) == CRIME
    assert weak_label(seeds, "Ein Tag am See", "Es war schön.", None, set()) is None


def test_seed_documents_cover_every_topic_in_both_languages(seeds: Seeds) -> None:
    docs = seed_documents(seeds, per_topic=2, words=5)
    assert {(code, lang) for code, lang, _ in docs} == {
        (code, lang) for code in seeds.words for lang in ("de", "en")
    }
    assert len(seeds.words) == 17
    assert docs == seed_documents(seeds, per_topic=2, words=5)  # reproducible


def test_iptc_documents_skip_retired_and_nameless() -> None:
    mapping = {
        "medtop:1": {"Level1/NewsCode": "medtop:02000000", "Name (en-GB)": "arrest",
                     "Definition (en-GB)": "Taking a suspect into custody", "RetiredDate": float("nan")},
        "medtop:2": {"Level1/NewsCode": "medtop:02000000", "Name (en-GB)": "old",
                     "Definition (en-GB)": "x", "RetiredDate": "2020-01-01"},
        "medtop:3": {"Level1/NewsCode": float("nan"), "Name (en-GB)": "orphan"},
    }
    assert iptc_documents(mapping) == [("medtop:02000000", "arrest. Taking a suspect into custody")]


# --- page sections ---------------------------------------------------------------------------

PAGE = """<html><head>
<meta property="article:section" content="Wirtschaft">
<meta name="keywords" content="Inflation, EZB, Zinsen, inflation">
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
 {"@type": "NewsArticle", "headline": "Zinsen steigen", "articleSection": ["Wirtschaft", "Geld"],
  "keywords": ["Leitzins", "EZB"]},
 {"@type": "BreadcrumbList", "itemListElement": [
   {"@type": "ListItem", "position": 1, "name": "Startseite"},
   {"@type": "ListItem", "position": 2, "item": {"name": "Finanzen"}},
   {"@type": "ListItem", "position": 3, "name": "Zinsen steigen"}]}]}
</script></head><body><p>x</p></body></html>"""


def test_page_sections_and_keywords() -> None:
    tree = lxml_html.fromstring(PAGE)
    assert page_sections(tree) == ("Wirtschaft", "Geld", "Finanzen")
    assert page_keywords(tree) == ("Leitzins", "EZB", "Inflation", "Zinsen")


NESTED = """<html><head><script type="application/ld+json">
{"@context": "https://schema.org", "@type": "WebPage",
 "breadcrumb": {"@type": "BreadcrumbList", "itemListElement": [
   {"name": "Home"}, {"name": "Sport"}, {"name": "Derby"}]},
 "mainEntity": {"@type": "NewsArticle", "articleSection": "Fußball", "keywords": "Derby",
   "hasPart": [{"@type": "NewsArticle", "articleSection": "Politik", "keywords": "Wahl"}]},
 "relatedLink": {"@type": "NewsArticle", "articleSection": "Wirtschaft", "keywords": "Börse"}}
</script></head><body><p>x</p></body></html>"""


def test_sections_of_articles_nested_in_the_page_items_are_not_the_page_own() -> None:
    tree = lxml_html.fromstring(NESTED)
    # mainEntity is the page's article; hasPart/relatedLink articles are other stories.
    assert page_sections(tree) == ("Fußball", "Sport")
    assert page_keywords(tree) == ("Derby",)


def test_page_without_sections() -> None:
    tree = lxml_html.fromstring("<html><head><title>t</title></head><body>x</body></html>")
    assert page_sections(tree) == () and page_keywords(tree) == ()
    assert page_sections(None) == ()


@pytest.mark.parametrize(
    "sections, expected",
    [
        (["Sport"], (SPORT, "Sport")),
        (["Panorama", "Politik & Gesellschaft"], (POLITICS, "Politik & Gesellschaft")),
        (["Meinung"], None),  # deliberately not a desk
        ([], None),
    ],
)
def test_section_hint(lexicon: Lexicon, sections, expected) -> None:
    assert section_hint(sections, lexicon) == expected


# --- a small stacked model -------------------------------------------------------------------


def _tiny_model(tmp_path: Path, seeds_text: str, lexicon: Lexicon) -> TopicModel:
    rows = []
    for n in range(30):
        rows.append(topic_train.Example("", f"bundesliga tor spiel trainer {n}", SPORT, "t", "de", f"s{n}"))
        rows.append(topic_train.Example("", f"boerse aktien zinsen inflation {n}", ECONOMY, "t", "de", f"e{n}"))
    settings = topic_train.TrainSettings(calibration_folds=0, chunk_chars=0)
    config, arrays = topic_train.train(rows, lexicon.labels, settings)
    first = TopicModel.from_arrays(config, arrays)
    first = dataclasses.replace(first, seeds=Seeds.from_data(yaml.safe_load(seeds_text)))
    texts = [("Tor in der Bundesliga", "Der Trainer jubelt", SPORT), ("Aktien fallen", "Die Börse", ECONOMY)] * 5
    feats = np.array([first.stacked_features(t, x) for t, x, _ in texts])
    w, b = topic_train.fit_stack(feats, [g for *_, g in texts], first.classes)
    config, arrays = topic_train.with_stack(config, arrays, w, b, ("de", "en"), {"n": len(texts)})
    topic_train.save_model(config, arrays, tmp_path / "m", seeds_text)
    return TopicModel.load(tmp_path / "m")


def test_stacked_model_round_trip_without_pickle(tmp_path: Path, lexicon: Lexicon) -> None:
    seeds_text = (Path(__file__).resolve().parents[1] / "configs" / "topic_seeds.yaml").read_text()
    model = _tiny_model(tmp_path, seeds_text, lexicon)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "seeds.yaml", "weights.npz"]
    with np.load(tmp_path / "m" / "weights.npz", allow_pickle=False) as npz:
        assert {"stack_weights", "stack_bias"} <= set(npz.files)
    assert model.languages == ("de", "en")
    proba = model.predict_proba("Tor für Bayern", "Die Bundesliga jubelt, der Trainer lobt das Spiel")
    assert model.classes[int(proba.argmax())] == SPORT
    assert float(proba.sum()) == pytest.approx(1.0, rel=1e-5)


def test_stack_gives_unseen_classes_their_own_decision() -> None:
    classes = ["a", "b", "c"]
    feats = np.array([[2.0, -1, -1, 0, 0, 0], [-1, 2.0, -1, 0, 0, 0]] * 10)
    w, b = topic_train.fit_stack(feats, ["a", "b"] * 10, classes)
    assert w.shape == (3, 6) and b.shape == (3,)
    assert w[2, 2] > 0  # "c" never appeared as gold; it keeps following the first layer
    z = w @ np.array([-5.0, -5.0, 9.0, 0, 0, 0]) + b
    assert int(np.argmax(z)) == 2


def test_stack_lets_a_topic_without_gold_rows_win_on_its_seed_words() -> None:
    # "c" stands for weather on the development set: no gold row in the fold, yet a page full
    # of its seed words must be able to get it; the weight on seed hits is shared by all topics.
    classes = ["a", "b", "c"]
    rng = np.random.default_rng(0)
    rows, gold = [], []
    for n in range(40):
        own = n % 2
        logits = rng.normal(0, 0.3, 3)
        logits[own] += 1.0
        seeds = np.zeros(3)
        seeds[own] = np.log1p(rng.integers(1, 6))
        rows.append(np.concatenate((logits, seeds)))
        gold.append(classes[own])
    w, b = topic_train.fit_stack(np.array(rows), gold, classes, c=0.2)
    weather_page = np.array([0.2, 0.3, 0.1, 0.0, np.log1p(1), np.log1p(15)])
    assert classes[int(np.argmax(w @ weather_page + b))] == "c"
    ordinary_page = np.array([1.0, 0.0, 0.1, np.log1p(3), 0.0, 0.0])
    assert classes[int(np.argmax(w @ ordinary_page + b))] == "a"


def test_half_a_stack_is_refused(tmp_path: Path, lexicon: Lexicon) -> None:
    rows = [topic_train.Example("", f"w{n % 2} x", ["A", "B"][n % 2], "t", "", str(n)) for n in range(20)]
    config, arrays = topic_train.train(rows, {}, topic_train.TrainSettings(calibration_folds=0, chunk_chars=0))
    with pytest.raises(ValueError, match="stack"):
        TopicModel.from_arrays(config, {**arrays, "stack_bias": np.zeros(2, np.float32)})


# --- languages -------------------------------------------------------------------------------


def test_other_languages_get_no_confident_guess(lexicon: Lexicon) -> None:
    model = TopicModel.load()
    assert reads_language(model, "de") and reads_language(model, None)
    ja = classify_article(model, lexicon, title="サッカー", text="試合は二対一で終わった。", language="ja")
    assert ja.topic is None and ja.topic_source == "unsupported_language:ja"
    # Hints still decide in any language.
    with_url = classify_article(
        model, lexicon, title="Partido", text="El equipo ganó.", language="es",
        url="https://example.es/deportes/sport/partido.html",
    )
    assert with_url.topic == SPORT and with_url.topic_source == "url:/sport/"


def test_shipped_config_names_its_languages() -> None:
    from transforms.enrichment.topic import default_model_dir

    config = json.loads(Path(str(default_model_dir())).joinpath("config.json").read_text())
    assert config["languages"] == ["de", "en"]
    assert len(config["classes"]) == 17


# --- the pipeline's stages pass sections on -------------------------------------------------

SPORT_PAGE = """<!doctype html><html lang="de"><head><title>Ein Abend im Stadion</title>
<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Ein Abend im Stadion",
 "articleSection": "Sport", "keywords": "Bundesliga, Fußball"}</script></head>
<body><article><h1>Ein Abend im Stadion</h1>
<p>Es war ein kalter Abend, und die Menschen kamen trotzdem in großer Zahl, um zu sehen, was
sich in den kommenden neunzig Minuten ereignen würde. Viele hatten Decken dabei.</p>
<p>Am Ende gingen alle zufrieden nach Hause, obwohl es lange nicht danach ausgesehen hatte und
der Regen immer stärker wurde. Die Stimmung auf den Rängen blieb dennoch gut.</p>
</article></body></html>"""


def test_extract_reads_sections_and_the_topic_stage_uses_them() -> None:
    import datetime as dt

    from transforms.text.extract import ExtractConfig, extract_article
    from transforms.records import FeedEntry, FetchedPage
    from transforms.enrichment.topic import _ClassifyFn

    entry = FeedEntry("https://example.org/feed.xml", "example", "https://example.org/a/1.html",
                      title="Ein Abend im Stadion", url="https://example.org/a/1.html", id="x1")
    fetched = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    page = FetchedPage(entry, entry.link, 200, "text/html", "utf-8", SPORT_PAGE.encode(), fetched)
    article = extract_article(page, ExtractConfig())
    assert article.sections == ("Sport",)
    assert article.page_keywords == ("Bundesliga", "Fußball")
    fn = _ClassifyFn(None)
    fn.setup()
    (out,) = list(fn.process(dataclasses.replace(article, language="de")))
    assert out.topic == SPORT
    assert "section:Sport" in out.topic_source and "keywords" in out.topic_source


def test_classify_cli_reads_sections_and_detects_the_language(monkeypatch, capsys) -> None:
    import io

    from pipeline import topics_cli

    lines = [
        {"title": "Ein Abend im Stadion", "text": "Es war ein kalter Abend. " * 5, "sections": ["Sport"]},
        {"title": "サッカー", "text": "試合は二対一で終わった。" * 5},
        {"title": "x", "text": "y", "sections": "Sport"},
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(json.dumps(x, ensure_ascii=False) for x in lines)))
    assert topics_cli.main(["classify"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["topic"] == SPORT and "section:Sport" in out[0]["topic_source"]
    assert out[1]["topic"] is None and out[1]["topic_source"] == "unsupported_language:ja"
    assert "lists" in out[2]["error"]
