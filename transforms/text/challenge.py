"""Pages that answer 200 but hold no article: bot challenges, consent walls, empty app shells.

Input: the parsed page and the text the extractor got from it. Output: the kind of shell page
(``bot_challenge``, ``consent_wall``, ``js_required``) or None. The extract stage turns a kind
into a dead letter of that ``error_type`` (counter ``extract/dead:<kind>``) instead of taking
the interstitial's words as the article (``transforms.text.extract.ShellPageError``).

Only a page whose article text is short is looked at (``MAX_SHELL_TEXT``): a real article that
mentions JavaScript, carries a captcha in its comment form or has a consent banner beside its
text has more text than any interstitial, so it always passes. Within that:
- ``bot_challenge``: the markup of a challenge service (Cloudflare's ``challenge-platform``,
  ``cf-turnstile``, DataDome's ``captcha-delivery``, PerimeterX, hCaptcha/reCAPTCHA walls, Akamai
  and Sucuri pages), or a challenge title/phrase ("Just a moment...", "Checking your browser",
  "verify you are human", "enable JavaScript and cookies to continue");
- ``consent_wall``: the visible text is (nearly) all consent dialog — at least
  ``MIN_CONSENT_HITS`` consent phrases and no article text beyond ``MAX_CONSENT_ARTICLE`` chars;
- ``js_required``: next to no visible text at all (``MAX_SHELL_VISIBLE``) with scripts that
  would build the page, or a "please enable JavaScript" notice as the only text.
"""

from __future__ import annotations

import re
from typing import Any

# Longer article text than this is an article, whatever else the page holds.
MAX_SHELL_TEXT = 600
# A consent wall's page holds at most this much text that is not consent dialog.
MAX_CONSENT_ARTICLE = 200
MIN_CONSENT_HITS = 2
# An app shell shows at most this many characters before its scripts run.
MAX_SHELL_VISIBLE = 150

# The markup of a challenge interstitial. Not Cloudflare's "challenge-platform" script alone:
# Cloudflare injects it into ordinary pages too.
_CHALLENGE_MARKUP = re.compile(
    r"cf-browser-verification|cf_chl_opt|cf-challenge|challenge-form|challenge-running|"
    r"captcha-delivery\.com|_pxCaptcha|px-captcha|sucuri_cloudproxy|ak-challenge|"
    r"_Incapsula_Resource|ddos-guard|aws-waf-token|awswaf-captcha",
    re.IGNORECASE,
)
# Captcha widgets: also in comment and newsletter forms of real pages, so they count only on a
# page with next to no text.
_CAPTCHA_WIDGET = re.compile(r"g-recaptcha|h-captcha|cf-turnstile|frc-captcha", re.IGNORECASE)
# A challenge page shows at most this much text.
MAX_CHALLENGE_VISIBLE = 1200
_CHALLENGE_TEXT = re.compile(
    r"just a moment\.{0,3}|checking (?:your|if the site connection is secure)|"
    r"verify(?:ing)? (?:that )?you are (?:a )?human|are you a (?:robot|human)|"
    r"robot or human|not a robot|enable javascript and cookies to continue|"
    r"attention required|access denied|pardon our interruption|"
    r"unusual traffic from your (?:computer|network)|press (?:&|and) hold|"
    r"complete the security check|please solve (?:this|the) captcha|"
    r"bitte bestätigen sie, dass sie ein mensch sind|sicherheitsüberprüfung|"
    r"vérifi(?:ez|cation) que vous (?:êtes|n'êtes pas)",
    re.IGNORECASE,
)
_CONSENT = re.compile(
    r"cookies?|consent|einwillig\w*|zustimm\w*|akzeptier\w*|accept(?:ez|er)?\b|"
    r"alle akzeptieren|accept all|reject all|alle ablehnen|tout accepter|"
    r"datenschutz\w*|privacy|partners?|partnern?|vendors?|personali[sz]ed|"
    r"tracking|werbung|advertis\w*|legitimate interest|berechtigte[sn]? interesse|"
    r"manage (?:options|preferences|settings)|einstellungen|consentement|"
    r"pay or ok|abo(?:nnement)? ohne werbung|pur[- ]abo",
    re.IGNORECASE,
)
_JS_NOTICE = re.compile(
    r"(?:enable|activate|turn on|aktivieren sie|activez|habilita|attiva)\s+\w*\s*javascript|"
    r"javascript\s+(?:is\s+)?(?:required|disabled|needed|must be enabled|aktivieren|"
    r"deaktiviert|wird benötigt)|requires javascript|you need to enable javascript",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")
_HIDDEN = ("script", "style", "noscript", "template", "svg")


def _visible_text(tree: Any) -> str:
    body = tree.find(".//body")
    if body is None:
        return ""
    parts: list[str] = []
    for node in body.iter():
        if not isinstance(node.tag, str):
            continue
        if node.tag not in _HIDDEN and node.text:
            parts.append(node.text)
        if node.tail and node is not body:
            parent = node.getparent()
            if parent is not None and parent.tag not in _HIDDEN:
                parts.append(node.tail)
    return _SPACE.sub(" ", " ".join(parts)).strip()


def _title(tree: Any) -> str:
    node = tree.find(".//title")
    return _SPACE.sub(" ", node.text_content()).strip() if node is not None else ""


def _markup(tree: Any) -> str:
    """The attributes and script sources of the page (where challenge services show)."""
    bits: list[str] = []
    for node in tree.iter("script", "iframe", "form", "div", "input", "link", "meta"):
        for attr in ("src", "id", "class", "action", "href", "name", "content"):
            value = node.get(attr)
            if value:
                bits.append(value)
        if node.tag == "script" and node.text and len(node.text) < 20000:
            bits.append(node.text)
    return " ".join(bits)


def _consent_share(text: str) -> tuple[int, int]:
    """(consent phrases, characters of sentences without one) of ``text``."""
    hits, other = 0, 0
    for sentence in re.split(r"(?<=[.!?])\s+|\s{2,}|\n", text):
        found = len(_CONSENT.findall(sentence))
        hits += found
        if not found:
            other += len(sentence)
    return hits, other


def shell_kind(tree: Any, article_text: str) -> str | None:
    """``bot_challenge``, ``consent_wall``, ``js_required`` or None (an article, or a page that
    is short for other reasons: a paywall stub, a video page)."""
    if tree is None or len(article_text) > MAX_SHELL_TEXT:
        return None
    title = _title(tree)
    visible = _visible_text(tree)
    if len(visible) > 4 * MAX_SHELL_TEXT + len(article_text):
        # Plenty of text the extractor did not take: a page with a short article (a gallery,
        # a video) and its chrome, not an interstitial.
        return None
    if len(visible) <= MAX_CHALLENGE_VISIBLE:
        markup = _markup(tree)
        if (
            _CHALLENGE_MARKUP.search(markup)
            or _CHALLENGE_TEXT.search(f"{title} {visible}")
            or (_CAPTCHA_WIDGET.search(markup) and len(visible) <= 2 * MAX_SHELL_VISIBLE)
        ):
            return "bot_challenge"
    hits, other = _consent_share(visible)
    if hits >= MIN_CONSENT_HITS and other <= MAX_CONSENT_ARTICLE + len(title):
        return "consent_wall"
    # An app shell: the extractor found (next to) nothing, and the page only says so or shows
    # nothing until its scripts run. A short brief has a few lines of text: not a shell.
    if (
        len(article_text) <= MAX_SHELL_VISIBLE
        and len(visible) <= 3 * MAX_SHELL_VISIBLE
        and _JS_NOTICE.search(visible)
    ):
        return "js_required"
    if (
        len(article_text) <= MAX_SHELL_VISIBLE // 3
        and len(visible) <= MAX_SHELL_VISIBLE
        and any(True for _ in tree.iter("script"))
    ):
        return "js_required"
    return None
