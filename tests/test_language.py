"""Language detection with the model py3langid ships."""

from __future__ import annotations

import pytest

from transforms.enrichment.language import _LanguageFn, detect_language, load_identifier
from transforms.records import Article, utc_now


@pytest.fixture(scope="module")
def identifier():
    return load_identifier()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer Energien beschlossen.", "de"),
        ("The government approved a new law on Wednesday to support renewable energy across the country.", "en"),
        ("Le gouvernement a adopté mercredi une nouvelle loi pour soutenir les énergies renouvelables.", "fr"),
    ],
)
def test_detects_language(identifier, text: str, code: str) -> None:
    found, score, used_hint = detect_language(identifier, "", text, None)
    assert (found, used_hint) == (code, False)
    assert 0.5 < score <= 1.0


def test_short_text_falls_back_to_the_feed_hint(identifier) -> None:
    assert detect_language(identifier, "Tor!", "", "de") == ("de", None, True)
    assert detect_language(identifier, "Tor!", "", None) == (None, None, False)


def test_dofn_sets_language() -> None:
    fn = _LanguageFn()
    fn.setup()
    article = Article(id="1", url="u", final_url="u", feed_url="f", source="s",
                      title="Putin sucht die Nähe zu China",
                      summary="", text="Die NATO befürchtet eine militärische Eskalation im Ukraine-Konflikt.",
                      text_source="page", fetched_at=utc_now())
    (out,) = list(fn.process(article))
    assert out.language == "de"
    assert out.title == article.title
