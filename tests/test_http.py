"""The careful GET: host checks with a stubbed resolver, and real fetches over loopback."""

from __future__ import annotations

import socket

import pytest

from transforms.fetching.http import FetchError, HttpConfig, check_url, fetch, make_client, parse_content_type


def resolver_for(*addresses: str):
    """A getaddrinfo stand-in: no DNS query, no connection, just these answers."""

    def resolve(host, port, type=0):  # noqa: A002 - mirrors socket.getaddrinfo
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.9", "192.168.1.1", "127.0.0.1", "169.254.169.254", "224.0.0.1",
     "0.0.0.0", "240.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "100.64.0.1"],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(FetchError) as err:
        check_url("http://news.example/a", False, resolver_for(address))
    assert err.value.error_type == "blocked_host"
    assert "--allow-private-hosts" in str(err.value)


def test_public_address_passes_and_any_private_answer_blocks() -> None:
    check_url("https://news.example/a", False, resolver_for("93.184.216.34"))
    with pytest.raises(FetchError):
        check_url("https://news.example/a", False, resolver_for("93.184.216.34", "10.0.0.1"))


def test_allow_private_hosts_skips_resolution() -> None:
    def must_not_resolve(*_args, **_kwargs):
        raise AssertionError("resolver called")

    check_url("http://127.0.0.1:1/", True, must_not_resolve)


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "javascript:alert(1)"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(FetchError) as err:
        check_url(url, True)
    assert err.value.error_type == "bad_scheme"


def test_unresolvable_host_is_a_dns_error() -> None:
    def fail(*_args, **_kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(FetchError) as err:
        check_url("http://no-such-host.invalid/", False, fail)
    assert err.value.error_type == "dns_error"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/html; charset=ISO-8859-1", ("text/html", "iso-8859-1")),
        ('text/html;charset="utf-8"', ("text/html", "utf-8")),
        ("application/rss+xml", ("application/rss+xml", None)),
        ("", ("", None)),
        (None, ("", None)),
    ],
)
def test_parse_content_type(header, expected) -> None:
    assert parse_content_type(header) == expected


def test_loopback_is_refused_by_default(fixture_server) -> None:
    cfg = HttpConfig()
    with make_client(cfg) as client, pytest.raises(FetchError) as err:
        fetch(client, fixture_server.url("/pages/a.html"), cfg)
    assert err.value.error_type == "blocked_host"


def test_fetch_returns_body_charset_and_final_url(fixture_server) -> None:
    cfg = HttpConfig(allow_private_hosts=True)
    with make_client(cfg) as client:
        response = fetch(client, fixture_server.url("/pages/latin1.html"), cfg)
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.charset == "iso-8859-1"
    assert "füllen".encode("iso-8859-1") in response.body


def test_redirect_loop_stops(fixture_server) -> None:
    cfg = HttpConfig(allow_private_hosts=True, max_redirects=3)
    with make_client(cfg) as client, pytest.raises(FetchError) as err:
        fetch(client, fixture_server.url("/r/loop"), cfg)
    assert err.value.error_type == "too_many_redirects"


def test_size_cap(fixture_server) -> None:
    cfg = HttpConfig(allow_private_hosts=True, max_bytes=100)
    with make_client(cfg) as client, pytest.raises(FetchError) as err:
        fetch(client, fixture_server.url("/pages/a.html"), cfg)
    assert err.value.error_type == "too_large"


def test_connection_refused(closed_port_url) -> None:
    cfg = HttpConfig(allow_private_hosts=True)
    with make_client(cfg) as client, pytest.raises(FetchError) as err:
        fetch(client, closed_port_url, cfg)
    assert err.value.error_type == "connection_error"


def test_user_agent_names_the_project(fixture_server) -> None:
    assert HttpConfig().user_agent.startswith("newsbeam/")


def test_check_url_returns_the_addresses_to_pin() -> None:
    assert check_url("https://news.example/a", False, resolver_for("93.184.216.34", "2606:2800::1")) == [
        "93.184.216.34", "2606:2800::1"]


def test_literal_addresses_are_judged_without_a_resolver() -> None:
    def must_not_resolve(*_args, **_kwargs):
        raise AssertionError("resolver called")

    with pytest.raises(FetchError) as err:
        check_url("http://10.0.0.1/", False, must_not_resolve)
    assert err.value.error_type == "blocked_host"
    assert check_url("http://93.184.216.34/", False, must_not_resolve) == ["93.184.216.34"]
