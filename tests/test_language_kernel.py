"""The compiled language identifier against py3langid, the reference it replaces: same scores,
bit for bit, on every kind of text."""

from __future__ import annotations

import csv
import threading
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from tests.conftest import SHARED_DATA
from transforms.enrichment import language_kernel
from transforms.enrichment.language import (
    MAX_CHARS,
    Identifier,
    detect_language,
    load_identifier,
)

# Any code point, lone surrogates too (py3langid encodes them with "surrogatepass").
ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]))
SIB200 = SHARED_DATA / "topics" / "sib200"

LONG_GERMAN = (
    "Die Bundesregierung hat am Mittwoch in Berlin den Haushalt für 2025 beschlossen. Der "
    "Finanzminister sprach von einem Kompromiss, die Opposition von Schuldenbremse und Größenwahn. "
) * 40
TEXTS = [
    "Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer Energien "
    "beschlossen.",
    "The government approved a new law on Wednesday to support renewable energy across the "
    "country.",
    "Le gouvernement a adopté mercredi une nouvelle loi pour soutenir les énergies renouvelables.",
    "Правительство в среду одобрило новый закон о поддержке возобновляемой энергетики.",
    "الحكومة وافقت يوم الأربعاء على قانون جديد لدعم الطاقة المتجددة في البلاد.",
    "政府周三批准了一项支持可再生能源的新法律。日本語のニュース。한국어 뉴스입니다.",
    "Η κυβέρνηση ενέκρινε την Τετάρτη νέο νόμο για τις ανανεώσιμες πηγές ενέργειας.",
    "सरकार ने बुधवार को नवीकरणीय ऊर्जा के लिए नया कानून पारित किया।",
    "ממשלת ישראל אישרה ביום רביעי חוק חדש לקידום אנרגיה מתחדשת.",
    "รัฐบาลอนุมัติกฎหมายใหม่เพื่อสนับสนุนพลังงานหมุนเวียน",
    "DIE BUNDESREGIERUNG HAT AM MITTWOCH EIN NEUES GESETZ BESCHLOSSEN.",  # isupper(): lowered
    "Ökonomie, Übermut und Maß — über-all",
    "e\u0301te\u0301 cafe\u0301 (combining accents: NFC composes them)",
    "Emoji 😀 und 🎉 🇩🇪 👩‍👩‍👧",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕿𝖊𝖝𝖙 beyond the BMP 𠀀𠀁𠀂",
    "lone surrogates \ud800 and \udfff and a pair split \ud83d",
    "\ud83d\ude00 an escaped pair",
    "",
    " ",
    "\n\t\r ",
    "a",
    "1234567890 42 3.14",
    "!!! ??? ... ---",
    "\x00\x01\x02 control characters \x7f",
    "x" * 5000,
    LONG_GERMAN,
    LONG_GERMAN[:MAX_CHARS],
    "😀" * 3000,
]
RAW = [
    "Grüße aus München".encode(),
    b"\xff\xfe\xfd not UTF-8 at all",
    "Größe".encode()[:-1],  # a character cut in half at the end: py3langid trims it
    b"",
]


@pytest.fixture(scope="module")
def identifier() -> Identifier:
    return load_identifier()


def _sib200_texts(per_language: int = 40) -> list[str]:
    if not SIB200.is_dir():
        return []
    texts = []
    for folder in sorted(p for p in SIB200.iterdir() if p.is_dir()):
        with open(folder / "dev.tsv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        texts += [row["text"] for row in rows[:per_language]]
    return texts


def assert_same(identifier: Identifier, text: str | bytes) -> None:
    reference = identifier.reference
    assert identifier._scores(text).tobytes() == reference._decide(text).tobytes()
    assert identifier.classify(text) == reference.classify(text)


@pytest.mark.parametrize("text", TEXTS + RAW)
def test_scores_equal_py3langid(identifier, text) -> None:
    assert_same(identifier, text)


def test_scores_equal_py3langid_on_sentences_of_15_languages(identifier) -> None:
    texts = _sib200_texts()
    if not texts:
        pytest.skip("shared data not available")
    for text in texts:
        assert_same(identifier, text)
        # Whole sentences are short; pairs and prefixes give other lengths and more features.
        assert_same(identifier, (text + " ") * 8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ANY_CHAR, max_size=300))
def test_scores_equal_py3langid_on_any_text(identifier, text) -> None:
    assert_same(identifier, text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_scores_equal_py3langid_on_any_bytes(identifier, data) -> None:
    assert_same(identifier, data)


@pytest.mark.parametrize("text", TEXTS)
def test_walk_finds_the_counter_of_visit_counts_in_its_order(identifier, text) -> None:
    reference = identifier.reference
    data = reference._encode(text)
    ids, counts = language_kernel.feature_counts(
        np.frombuffer(data, np.uint8), identifier._nextmove, identifier._row, identifier._output
    )
    visits = visit_counts(reference.tk_nextmove, reference._rowbase, reference.tk_output, data)
    assert (ids.dtype, counts.dtype) == (np.intp, np.float32)
    assert list(zip(ids.tolist(), counts.tolist())) == list((visits or Counter()).items())


def test_rows_convert_every_float16_as_numpy_does() -> None:
    halves = np.arange(1 << 16, dtype=np.uint16)
    expected = halves.view(np.float16).astype(np.float32).view(np.uint32)
    normal = np.concatenate([halves[0x0400:0x7C00], halves[0x8400:0xFC00]])
    # Normal numbers only: the vectorized conversion alone (the table is never read).
    table = normal.reshape(-1, 64)
    ids = np.array([5, 0, 5, table.shape[0] - 1], np.intp)
    rows = language_kernel.gather_rows(table, ids, np.zeros(1 << 16, np.uint32))
    assert rows.dtype == np.float32
    assert np.array_equal(rows.view(np.uint32), expected[normal].reshape(-1, 64)[ids])
    # All bit patterns (zeros, subnormals, infinities, NaNs among them).
    table = halves.reshape(-1, 128)
    ids = np.arange(table.shape[0], dtype=np.intp)[::-1].copy()
    rows = language_kernel.gather_rows(table, ids, expected)
    assert np.array_equal(rows.view(np.uint32), expected.reshape(-1, 128)[ids])
    # No rows.
    assert language_kernel.gather_rows(table, ids[:0], expected).shape == (0, 128)


def test_detect_language_is_unchanged(identifier) -> None:
    reference = identifier.reference
    texts = TEXTS + _sib200_texts(10)
    for title, text in [("", t) for t in texts] + [("Ein Titel", t) for t in texts]:
        for hint in (None, "de"):
            found = detect_language(identifier, title, text, hint)
            assert found == detect_language(reference, title, text, hint)


def test_other_settings_of_the_reference() -> None:
    """Raw scores (no ``norm_probs``), ``min_confidence`` and a language subset follow the
    reference's settings as py3langid applies them."""
    raw = LanguageIdentifier.from_model_file(MODEL_FILE)
    strict = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True, min_confidence=0.9)
    for reference in (raw, strict):
        identifier = Identifier(reference)
        for text in TEXTS + RAW:
            assert_same(identifier, text)
    assert Identifier(strict).classify("Hallo")[0] == strict.classify("Hallo")[0] == "und"
    raw.set_languages(["de", "en", "sr"])  # "sr" has two columns (script aliases)
    identifier = Identifier(raw)
    for text in TEXTS:
        assert_same(identifier, text)
    raw.set_languages(None)
    for text in TEXTS:
        assert_same(identifier, text)


def test_threads_share_one_identifier(identifier) -> None:
    texts = TEXTS * 4
    expected = [identifier.reference.classify(t) for t in texts]
    found: dict[int, list] = {}

    def work(k: int) -> None:
        found[k] = [identifier.classify(t) for t in texts]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(found[k] == expected for k in range(4))


def test_model_tables_are_shared_not_copied(identifier) -> None:
    assert np.shares_memory(identifier._nextmove, identifier.reference.tk_nextmove)
