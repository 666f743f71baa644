"""The compiled topic kernel against the numpy reference it replaces at inference time."""

from __future__ import annotations

import collections
import dataclasses
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from transforms.enrichment import topic_kernel
from transforms.enrichment.topic import (
    FeatureSpec,
    TopicModel,
    _raw_codepoints,
    normalize_codepoints,
    vectorize,
)
from transforms.enrichment.topic_seeds import (
    _FOLD,
    _WORDS,
    LEAD_CHARS,
    TITLE_WEIGHT,
    Seeds,
    seed_scores,
)
from transforms.enrichment.topic_train import load_shared_topics

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEWSBEAM_SHARED_DATA") or REPO.parent / "shared" / "data") / "topics"

LONG_GERMAN = (
    "Die Bundesregierung hat am Mittwoch in Berlin den Haushalt für 2025 beschlossen. Der "
    "Finanzminister sprach von einem Kompromiss, die Opposition von Schuldenbremse und Größenwahn. "
) * 30
DOCS = [
    ("Ärger über Fußball-Übertragung", "Die Bundesliga 2024: Bayern München gewinnt 3:1. " * 40),
    ("Markets rally", "Stocks rose on Wall Street as the Fed held rates at 5.25 %."),
    ("Haushalt beschlossen", LONG_GERMAN),
    ("", ""),
    ("Nur ein Titel", ""),
    ("", "nur Text ohne Titel, mit Ziffern 1 22 333 4444"),
    ("Emoji 😀 und 🎉", "CJK 中文新闻 日本語のニュース 한국어 뉴스, Ελληνικά, русский текст"),
    ("   ", " \n\t "),
    ("a", "b"),
    ("x" * 50, "y" * 5000),
    ("Straße", "Ökonomie, Übermut und Maß — über-all 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ½ ² ٣"),
]
SPECS = [
    FeatureSpec(),
    # Few buckets (collisions everywhere), other orders and weights, the title read twice.
    FeatureSpec(
        buckets_log2=6,
        word_ngrams=(1,),
        char_ngrams=(2, 4),
        max_chars=300,
        word_weight=0.5,
        char_weight=2.0,
        title_repeat=2,
    ),
    FeatureSpec(buckets_log2=12, word_ngrams=(1, 2, 3), char_ngrams=(1,), max_chars=50),
]


@pytest.fixture(scope="module")
def shipped() -> dict[str, TopicModel]:
    return {name: TopicModel.load(name) for name in ("research", "commercial")}


def _model(spec: FeatureSpec, n_classes: int, stacked: bool, seed: int = 0) -> TopicModel:
    """A random model of the given shape, built as TopicModel.load builds one."""
    rng = np.random.default_rng(seed)
    buckets = 1 << spec.buckets_log2
    classes = [f"c{i}" for i in range(n_classes)]
    config = {"format": 1, "features": spec.to_dict(), "classes": classes, "labels": classes}
    arrays = {
        "weights": rng.integers(-127, 128, (buckets, n_classes), dtype=np.int8),
        "scales": rng.uniform(0.01, 0.1, n_classes).astype(np.float32),
        "bias": rng.normal(0, 1, n_classes).astype(np.float32),
        "idf": rng.uniform(1, 8, buckets).astype(np.float32),
    }
    if stacked:
        arrays["stack_weights"] = rng.normal(0, 1, (n_classes, 2 * n_classes)).astype(np.float32)
        arrays["stack_bias"] = rng.normal(0, 1, n_classes).astype(np.float32)
    model = TopicModel.from_arrays(config, arrays)
    if stacked:
        codes = {"c0": ["tor", "bundesliga"], "c1": ["haushalt", "regierung"], "c2": ["stocks"]}
        data = {"topics": {c: {"de": words, "en": words} for c, words in codes.items()}}
        model = dataclasses.replace(model, seeds=Seeds.from_data(data))
    return model


def _kernel_vector(model: TopicModel, title: str, text: str):
    _, features, _ = model._kernel_inputs
    fold, rest = features[0], features[1:10]
    cps = topic_kernel.normalize(
        _raw_codepoints(title, text, model.spec.max_chars, model.spec.title_repeat), fold
    )
    return cps, topic_kernel.sparse_vector(cps, *rest, model._scratch())


@pytest.mark.parametrize("spec", SPECS, ids=["default", "small", "tiny"])
@pytest.mark.parametrize("title, text", DOCS)
def test_kernel_features_equal_reference(spec: FeatureSpec, title: str, text: str) -> None:
    model = _model(spec, 5, stacked=False)
    cps, (idx, val) = _kernel_vector(model, title, text)
    ref_cps = normalize_codepoints(title, text, spec.max_chars, spec.title_repeat)
    ref_idx, ref_val = vectorize(title, text, spec, model.idf)
    assert cps.tolist() == ref_cps.tolist()
    assert idx.tolist() == ref_idx.tolist()
    np.testing.assert_allclose(val, ref_val, rtol=1e-6, atol=1e-7)
    assert not model._scratch().any()  # the counters are left zero for the next document


@pytest.mark.parametrize(
    "spec, n_classes, stacked",
    [(SPECS[0], 17, True), (SPECS[0], 7, False), (SPECS[1], 8, True), (SPECS[2], 3, False)],
    ids=["17-stacked", "7-packed", "8-packed-stacked", "3-tiny"],
)
def test_kernel_scores_equal_reference(spec, n_classes: int, stacked: bool) -> None:
    model = _model(spec, n_classes, stacked)
    ref = dataclasses.replace(model, compiled=False)
    assert model.uses_kernel and not ref.uses_kernel
    for title, text in DOCS:
        np.testing.assert_allclose(
            model.logits(title, text), ref.logits(title, text), rtol=1e-5, atol=1e-5
        )
        proba, ref_proba = model.predict_proba(title, text), ref.predict_proba(title, text)
        np.testing.assert_allclose(proba, ref_proba, rtol=1e-5, atol=1e-6)
        assert proba.argmax() == ref_proba.argmax()
        assert proba.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["research", "commercial"])
def test_shipped_models_kernel_equals_reference(shipped, name: str) -> None:
    model = shipped[name]
    ref = dataclasses.replace(model, compiled=False)
    for title, text in DOCS:
        np.testing.assert_allclose(
            model.logits(title, text), ref.logits(title, text), rtol=1e-5, atol=1e-5
        )
        proba, ref_proba = model.predict_proba(title, text), ref.predict_proba(title, text)
        np.testing.assert_allclose(proba, ref_proba, atol=1e-6)
        assert proba.argmax() == ref_proba.argmax()


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data/topics not present")
def test_kernel_predicts_as_reference_on_every_held_out_row(shipped) -> None:
    rows = [e for e in load_shared_topics(SHARED) if e.held_out]
    assert len(rows) > 1000
    model = shipped["research"]
    for e in rows:
        expected = _seed_scores_by_occurrence(model.seeds, e.title, e.text)
        assert seed_scores(model.seeds, e.title, e.text) == expected
        assert seed_scores(model.seeds, e.title, e.text, model._seed_words) == expected
    for model in shipped.values():
        ref = dataclasses.replace(model, compiled=False)
        for e in rows:
            proba, ref_proba = (
                model.predict_proba(e.title, e.text),
                ref.predict_proba(e.title, e.text),
            )
            assert proba.argmax() == ref_proba.argmax(), e.key
            assert np.abs(proba - ref_proba).max() < 1e-5, e.key


def test_large_bucket_spaces_use_the_reference(shipped) -> None:
    model = shipped["research"]
    assert model.uses_kernel
    big = dataclasses.replace(model, spec=dataclasses.replace(model.spec, buckets_log2=23))
    assert not big.uses_kernel
    long = dataclasses.replace(model, spec=dataclasses.replace(model.spec, max_chars=20_000))
    assert not long.uses_kernel  # a bucket's counter could pass 65,535


def test_threads_get_their_own_counters(shipped) -> None:
    model = shipped["research"]
    docs = DOCS * 5
    expected = [model.predict_proba(t, x) for t, x in docs]
    results: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        results[k] = [model.predict_proba(t, x) for t, x in docs]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for got, want in zip(results[k], expected):
            np.testing.assert_array_equal(got, want)


def _seed_scores_by_occurrence(seeds: Seeds, title: str, text: str) -> dict[str, float]:
    """seed_scores as first written: fold the whole text, look up every occurrence."""
    scores: dict[str, float] = collections.defaultdict(float)
    for weight, part in ((TITLE_WEIGHT, title), (1, text[:LEAD_CHARS])):
        for word in _WORDS.findall(part.lower().translate(_FOLD)):
            for code in seeds.index.hits(word):
                scores[code] += weight
    return dict(scores)


@pytest.mark.parametrize(
    "title, text",
    [
        *DOCS,
        (
            "Großbrand in Köln: Feuerwehr löscht",
            (
                "Ein Großbrand hat in der Nacht ein Lagerhaus zerstört. Die Feuerwehr war mit "
                "80 Kräften im Einsatz; Brandstiftung wird nicht ausgeschlossen."
            ),
        ),
        (
            "Erdbeben erschüttert Türkei",
            "Ein Erdbeben der Stärke 6,1 — Nachbeben, Tsunami-Warnung.",
        ),
        (
            "Doppelmord: Festnahme",
            "Die Polizei nahm den Tatverdächtigen fest. Mord-Ermittlungen laufen.",
        ),
        (
            "Election: the vote",
            "The government and parliament debate; voters go to the polls. " * 20,
        ),
    ],
)
def test_seed_scores_equal_a_lookup_per_occurrence(shipped, title: str, text: str) -> None:
    seeds = Seeds.load()
    expected = _seed_scores_by_occurrence(seeds, title, text)
    assert seed_scores(seeds, title, text) == expected
    assert seed_scores(seeds, title, text, shipped["research"]._seed_words) == expected


@pytest.mark.parametrize(
    "text",
    [
        *(t + " " + x for t, x in DOCS),
        "über-all -lead trail- a--b a-b-c x-1 1-x _under_score ¼-½ ab-ĳ-cd",
        "-",
        "a",
        "a-",
        "-a",
        "",
        "ﬁnance ǅemal µ ª º ⅻ ⓐ ǆ",
        "emoji 😀 beyond the plane 𝔘𝔫𝔦 and a-b",
        "tab\tnew\nline",
    ],
)
def test_kernel_seed_words_equal_the_regex(shipped, text: str) -> None:
    lowered = text.lower()
    assert shipped["research"]._seed_words(lowered) == _WORDS.findall(lowered)


def test_kernel_caches_in_the_temp_dir_when_nothing_else_is_writable(tmp_path: Path) -> None:
    # A fresh interpreter in which numba finds neither the package's __pycache__ nor the user's
    # cache directory writable (as in a read-only image): the kernel must still load.
    script = (
        "from numba.core import caching\n"
        "for cls in (caching.InTreeCacheLocator, caching.UserWideCacheLocator):\n"
        "    cls.from_function = classmethod(lambda cls, f, p: None)\n"
        "from transforms.enrichment.topic import _kernel\n"
        "print(_kernel().probabilities._cache._cache_path)\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip().startswith(str(tmp_path / "newsbeam-numba"))


def test_a_used_model_pickles_and_runs_the_kernel_after(shipped) -> None:
    model = shipped["commercial"]
    expected = model.predict_proba(*DOCS[0])  # builds the kernel's inputs and counters
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(*DOCS[0]), expected)


def _fresh_interpreter(script: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a new Python process (nothing imported or loaded yet)."""
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True, text=True
    )


def test_preload_loads_the_kernel_before_the_first_article() -> None:
    """``topic.preload`` (called before a batch graph is built) leaves the kernel imported and
    its machine code loaded, so the stage's first article does not pay for it; a model that
    cannot load is left to the stage to report (the warm-up says nothing)."""
    script = (
        "import sys\n"
        "from transforms.enrichment import topic\n"
        "assert 'numba' not in sys.modules\n"
        "topic.preload('/nonexistent/model').join()\n"
        "topic.preload().join()\n"
        "from transforms.enrichment import topic_kernel\n"
        "print(len(topic_kernel.probabilities.signatures), len(topic_kernel.word_bounds.signatures))\n"
    )
    done = _fresh_interpreter(script)
    assert done.stdout.split() == ["1", "1"]
    assert "Traceback" not in done.stderr


def test_the_stage_setup_reuses_the_model_the_warm_up_loaded() -> None:
    """The warm-up thread reads the weights; the stage's setup in the same process finds that
    model instead of reading them again (start-up is on the path of the first page)."""
    script = """
from transforms.enrichment import topic
loads = []
real = topic.TopicModel.load.__func__
topic.TopicModel.load = classmethod(lambda cls, path=None: loads.append(path) or real(cls, path))
topic.preload().join()
first, other, again = (topic._ClassifyFn(m) for m in (None, "commercial", None))
for fn in (first, other, again):
    fn.setup()
assert first._model is again._model and first._model is not other._model
print(loads)
"""
    done = _fresh_interpreter(script)
    assert done.stdout.split() == ["[None,", "'commercial']"]
