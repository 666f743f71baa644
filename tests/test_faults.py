"""The careful GET against a hostile loopback server: every fault ends as a response or a typed
FetchError, never a crash, a hang or a body blown up in memory."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from tests.faultserver import (  # noqa: F401 - fixtures
    FEEDS,
    FaultServer,
    article_html,
    fault_server_fixture,
    loopback_only_fixture,
)
from transforms.sources.feed_safety import UnsafeFeedError, check_feed
from transforms.fetching.fetch import check_page
from transforms.fetching.http import (
    FetchError,
    HttpConfig,
    fetch,
    make_client,
    retry_after_seconds,
    retry_wait,
)

pytestmark = pytest.mark.usefixtures("loopback_only")

# Tiny timeouts keep the server's delays tiny; only loopback is allowed, and not by a blanket flag.
FAST = HttpConfig(
    allowed_networks=("127.0.0.0/8",),
    connect_timeout=1,
    read_timeout=0.3,
    total_timeout=1.5,
    max_bytes=200_000,
    retries=2,
    backoff=0.0,
    max_retry_wait=1,
)


# For the tests that are not about timing: a loaded CI machine may take longer than FAST's
# 0.3 s to answer, and a timeout there would hide the error the test is about.
PATIENT = FAST.model_copy(update={"read_timeout": 10, "total_timeout": 20})


class Sleeps(list):
    """A sleep() that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def get(server: FaultServer, path: str, cfg: HttpConfig = PATIENT, **kwargs):
    with make_client(cfg) as client:
        return fetch(client, server.url(path), cfg, **kwargs)


def fails(server: FaultServer, path: str, cfg: HttpConfig = PATIENT, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as err:
        get(server, path, cfg, **kwargs)
    return err.value


# --- slow servers ---------------------------------------------------------------------------


def test_slow_answer_times_out(fault_server) -> None:
    assert fails(fault_server, "/slow?delay=1", FAST).error_type == "timeout"


def test_drip_fed_body_is_cut_at_the_total_timeout(fault_server) -> None:
    cfg = FAST.model_copy(update={"total_timeout": 0.3})
    started = time.monotonic()
    err = fails(fault_server, "/drip?interval=0.02&chunks=150", cfg)  # 3 s of dripping
    assert err.error_type == "timeout"
    assert err.http_status == 200
    # Bounded by total_timeout + one read_timeout, far from the 3 s the server would take.
    assert time.monotonic() - started < 2.0


# --- retries --------------------------------------------------------------------------------


def test_retry_after_beyond_the_cap_fails_without_waiting(fault_server) -> None:
    sleeps = Sleeps()
    err = fails(fault_server, "/status/429?retry_after=3600", sleep=sleeps)
    assert (err.error_type, err.http_status) == ("retry_after_too_long", 429)
    assert sleeps == []
    assert fault_server.hits("/status/429") == 1


def test_retry_after_date_beyond_the_cap_fails(fault_server) -> None:
    err = fails(fault_server, "/status/503?retry_after=Wed,%2021%20Oct%202099%2007:28:00%20GMT")
    assert err.error_type == "retry_after_too_long"


def test_5xx_is_retried_then_returned(fault_server) -> None:
    sleeps = Sleeps()
    response = get(fault_server, "/status/503?retry_after=0", sleep=sleeps)
    assert (response.status, response.attempts) == (503, 3)
    assert sleeps == [0.0, 0.0]
    assert fault_server.hits("/status/503") == 3
    assert check_page(response).error_type == "http_error"
    assert "after 3 attempts" in str(check_page(response))


def test_backoff_doubles_without_retry_after(fault_server) -> None:
    sleeps = Sleeps()
    cfg = FAST.model_copy(update={"backoff": 0.25, "retries": 3, "total_timeout": 30})
    response = get(fault_server, "/status/502", cfg, sleep=sleeps)
    assert response.status == 502
    assert sleeps == [0.25, 0.5, 1.0]  # the last one capped by max_retry_wait


def test_flapping_server_recovers_within_the_retries(fault_server) -> None:
    response = get(fault_server, "/flap/2?key=a", sleep=Sleeps())
    assert (response.status, response.attempts) == (200, 3)
    assert response.body == article_html("flap")


def test_flapping_server_beyond_the_retries(fault_server) -> None:
    cfg = FAST.model_copy(update={"retries": 1})
    response = get(fault_server, "/flap/2?key=b", cfg, sleep=Sleeps())
    assert (response.status, response.attempts) == (503, 2)


def test_no_retry_when_the_deadline_would_pass(fault_server) -> None:
    sleeps = Sleeps()
    cfg = FAST.model_copy(update={"backoff": 1.0, "total_timeout": 0.5})
    response = get(fault_server, "/status/503", cfg, sleep=sleeps)
    assert (response.status, response.attempts, sleeps) == (503, 1, [])


@pytest.mark.parametrize("status", [400, 404, 410, 451, 501])
def test_final_statuses_are_not_retried(fault_server, status: int) -> None:
    response = get(fault_server, f"/status/{status}", sleep=Sleeps())
    assert (response.status, response.attempts) == (status, 1)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value, seconds) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds(value, now=now) == seconds


def test_retry_wait() -> None:
    cfg = HttpConfig(backoff=1.0, max_retry_wait=5.0)
    assert [retry_wait(n, None, cfg) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert retry_wait(1, 5.0, cfg) == 5.0
    with pytest.raises(FetchError) as err:
        retry_wait(1, 5.5, cfg)
    assert err.value.error_type == "retry_after_too_long"


# --- redirects --------------------------------------------------------------------------------


def test_redirect_loop_stops(fault_server) -> None:
    assert fails(fault_server, "/redirect/loop").error_type == "too_many_redirects"
    assert fault_server.hits("/redirect/loop") == FAST.max_redirects + 1


def test_redirect_chain_within_the_limit(fault_server) -> None:
    response = get(fault_server, "/redirect/chain/5")
    assert response.status == 200
    assert response.final_url == fault_server.url("/redirect/chain/0")
    assert response.url == fault_server.url("/redirect/chain/5")


def test_redirect_chain_beyond_the_limit(fault_server) -> None:
    assert fails(fault_server, "/redirect/chain/6").error_type == "too_many_redirects"


@pytest.mark.parametrize(
    ("target", "error_type"),
    [
        ("file:///etc/passwd", "bad_scheme"),
        ("ftp://127.0.0.1/x", "bad_scheme"),
        ("gopher://127.0.0.1:70/_x", "bad_scheme"),
        ("http://10.0.0.1/x", "blocked_host"),
        ("http://169.254.169.254/latest/meta-data", "blocked_host"),
        ("http://[::1/x", "bad_url"),
        ("//0.0.0.0:1/x", "blocked_host"),
        ("http://[::ffff:10.0.0.1]/x", "blocked_host"),
    ],
)
def test_redirect_targets_refused_before_connecting(
    fault_server, target: str, error_type: str
) -> None:
    assert fails(fault_server, f"/redirect/to?url={target}").error_type == error_type
    assert fault_server.requests == [f"/redirect/to?url={target}"]


# --- sizes, encodings, bombs ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/huge?size=2000000", "/huge?size=2000000&length=0"])
def test_huge_bodies_are_cut(fault_server, path: str) -> None:
    err = fails(fault_server, path)
    assert (err.error_type, err.http_status) == ("too_large", 200)


def test_truncate_keeps_the_first_bytes(fault_server) -> None:
    response = get(fault_server, "/huge?size=2000000&length=0", truncate=True)
    assert len(response.body) == FAST.max_bytes
    assert response.body.startswith(b"<p>xxx")


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
def test_decompression_bombs_stop_at_the_cap_without_inflating(fault_server, encoding: str) -> None:
    fault_server.bomb(encoding, 50_000_000)  # compress before measuring
    tracemalloc.start()
    try:
        err = fails(fault_server, f"/bomb/{encoding}?size=50000000")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.error_type == "too_large"
    assert "after" not in str(err) and "byte cap" in str(err)
    # 50 MB inflated would show here; the cap is 200 kB.
    assert peak < 5_000_000


def test_gzip_article_is_decoded(fault_server) -> None:
    response = get(fault_server, "/gzip/zipped")
    assert response.body == article_html("zipped")
    assert check_page(response) is None


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "gzip, gzip"])
def test_wrong_or_unknown_content_encoding(fault_server, encoding: str) -> None:
    err = fails(fault_server, f"/encoding/{encoding}")
    assert (err.error_type, err.http_status) == ("bad_encoding", 200)


def test_identity_encoding_is_plain(fault_server) -> None:
    assert get(fault_server, "/encoding/identity").body == article_html("encoding")


# --- content types, charsets, empty bodies ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "error_type"),
    [
        ("/type/pdf", "unsupported_content_type"),
        ("/type/image", "unsupported_content_type"),
        ("/type/json", "unsupported_content_type"),
        ("/type/none", None),
        ("/type/octet", None),
        ("/empty", "empty_body"),
        ("/status/404", "http_error"),
        ("/article/fine", None),
        ("/charset/mislabeled", None),
        ("/charset/unknown", None),
        ("/charset/mixed", None),
    ],
)
def test_page_checks(fault_server, path: str, error_type: str | None) -> None:
    problem = check_page(get(fault_server, path, sleep=Sleeps()))
    assert (problem.error_type if problem else None) == error_type


def test_charsets_pass_through_as_bytes(fault_server) -> None:
    """Decoding is the extract stage's job; fetch keeps the bytes and the declared charset."""
    mislabeled = get(fault_server, "/charset/mislabeled")
    assert mislabeled.charset == "utf-8"
    assert "Größere".encode("latin-1") in mislabeled.body
    assert get(fault_server, "/charset/unknown").charset == "x-no-such-charset"


# --- hostile feeds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("billion-laughs", "nested_entity"),
        ("xxe-file", "external_entity"),
        ("xxe-http", "external_entity"),
        ("faults", None),
        ("external-dtd", None),
        ("html", None),
        ("duplicates", None),
    ],
)
def test_feed_bytes_from_the_server_are_checked(
    fault_server, name: str, reason: str | None
) -> None:
    body = get(fault_server, f"/feed/{name}.xml").body
    if reason is None:
        check_feed(body)
    else:
        with pytest.raises(UnsafeFeedError) as err:
            check_feed(body)
        assert err.value.reason == reason


def test_every_served_feed_is_known() -> None:
    assert set(FEEDS) == {
        "faults",
        "billion-laughs",
        "xxe-file",
        "xxe-http",
        "external-dtd",
        "html",
        "duplicates",
    }
