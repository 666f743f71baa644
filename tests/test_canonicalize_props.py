"""Property-based tests of URL canonicalization: idempotent, only BadLinkError, and the scheme,
host, path and real query parameters of a link survive."""

from __future__ import annotations

import urllib.parse
from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from transforms.sources.canonicalize import TRACKING_PARAMS, BadLinkError, article_id, canonical_url

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOSTS = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "de", "org", "example", "co.uk"]),
)
IDN_HOSTS = st.sampled_from(["bücher.example", "straße.de", "пример.рф", "例え.jp"])
SCHEMES = st.sampled_from(["http", "https", "HTTP", "Https"])
PORTS = st.one_of(st.none(), st.integers(min_value=1, max_value=65535))
# Path segments with letters, digits, unreserved and a few sub-delims, and non-ASCII text.
SEGMENTS = st.text(
    alphabet=st.characters(
        whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-._~!$'()*+,;=:@äöüß"
    ),
    min_size=1,
    max_size=12,
).filter(lambda seg: seg not in (".", ".."))  # dot segments are resolved away (RFC 3986 5.2.4)
PATHS = st.builds(
    lambda segs, slash: "/" + "/".join(segs) + ("/" if slash and segs else ""),
    st.lists(SEGMENTS, max_size=4),
    st.booleans(),
)
KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda k: (
        k not in TRACKING_PARAMS
        and not k.startswith(("utm_", "at_", "wt_", "pk_", "mtm_", "hsa_", "ga_"))
    )
)
VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
QUERIES = st.lists(st.tuples(KEYS, VALUES), max_size=4)
TRACKING = st.lists(
    st.tuples(
        st.sampled_from(["utm_source", "utm_medium", "fbclid", "gclid", "UTM_Campaign"]), VALUES
    ),
    max_size=3,
)


@st.composite
def links(draw) -> tuple[str, dict]:
    """A link built from known parts, with the parts it was built from."""
    scheme, host, port, path = (
        draw(SCHEMES),
        draw(st.one_of(HOSTS, IDN_HOSTS)),
        draw(PORTS),
        draw(PATHS),
    )
    query, tracking = draw(QUERIES), draw(TRACKING)
    mixed = draw(st.permutations(query + tracking))
    fragment = draw(st.one_of(st.just(""), st.text(max_size=8)))
    host_text = draw(st.sampled_from([host, host.upper(), host + "."]))
    netloc = host_text if port is None else f"{host_text}:{port}"
    link = urllib.parse.urlunsplit(
        (
            scheme,
            netloc,
            urllib.parse.quote(path, safe="/:@!$'()*+,;=-._~"),
            urllib.parse.urlencode(mixed),
            urllib.parse.quote(fragment),
        )
    )
    return link, {
        "scheme": scheme.lower(),
        "host": host,
        "port": port,
        "path": path,
        "query": query,
    }


def canonical_or_none(text: str) -> str | None:
    """canonical_url, or None for the one error it may raise."""
    try:
        return canonical_url(text)
    except BadLinkError:
        return None


@pytest.mark.parametrize("link", ["http://[::1", "https://a]b/", "http://[not-an-ip]/x"])
def test_bracketed_hosts_raise_bad_link_error(link: str) -> None:
    with pytest.raises(BadLinkError):
        canonical_url(link)


@given(links())
@settings(max_examples=300)
def test_scheme_host_path_and_real_parameters_survive(built: tuple[str, dict]) -> None:
    link, parts = built
    url = canonical_url(link)
    got = urllib.parse.urlsplit(url)
    assert got.scheme == parts["scheme"]
    assert got.hostname == parts["host"].encode("idna").decode("ascii").lower()
    default = {"http": 80, "https": 443}[parts["scheme"]]
    assert got.port == (None if parts["port"] in (None, default) else parts["port"])
    assert urllib.parse.unquote(got.path) == parts["path"]
    assert Counter(urllib.parse.parse_qsl(got.query, keep_blank_values=True)) == Counter(
        parts["query"]
    )
    assert got.fragment == ""


@given(links())
@settings(max_examples=300)
def test_idempotent_on_built_links(built: tuple[str, dict]) -> None:
    url = canonical_url(built[0])
    assert canonical_url(url) == url
    assert article_id(canonical_url(url)) == article_id(url)


@given(st.text(max_size=80))
@example("http://[::1")
@example("http://host:99999/")
@example("http://host:port/")
@example("https://\u3002/")
@example("http://xn--/")
@example("http:// /")
@example("javascript:alert(1)")
@settings(max_examples=500)
def test_any_text_gives_a_url_or_bad_link_error(text: str) -> None:
    url = canonical_or_none(text)
    if url is None:
        return
    assert url.startswith(("http://", "https://"))
    assert canonical_url(url) == url


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), HOSTS)
@settings(max_examples=300)
def test_any_text_after_a_real_prefix(tail: str, host: str) -> None:
    """Arbitrary path/query/fragment characters after a valid origin."""
    url = canonical_or_none(f"https://{host}/{tail}")
    if url is None:
        return
    assert urllib.parse.urlsplit(url).hostname == host
    assert canonical_url(url) == url


@given(PATHS, HOSTS)
def test_relative_links_resolve_against_the_feed(path: str, host: str) -> None:
    url = canonical_url(urllib.parse.quote(path), base=f"https://{host}/feeds/rss.xml")
    got = urllib.parse.urlsplit(url)
    assert (got.scheme, got.hostname) == ("https", host)
    assert urllib.parse.unquote(got.path) == path


@pytest.mark.parametrize(
    ("link", "expected"),
    [("/.", "https://x.test/"), ("/a/./b/../c", "https://x.test/a/c"), ("../story", "https://x.test/story")],
)
def test_dot_segments_of_relative_links_are_resolved(link: str, expected: str) -> None:
    # The path strategy above leaves "." and ".." out: resolving a link removes them.
    assert canonical_url(link, base="https://x.test/feeds/rss.xml") == expected
