"""SSRF: every hop is checked before a connection is opened, and the connection goes to the
address that was checked.

Refusals are tested with a loopback server and stubbed resolvers. The ``loopback_only`` guard fails
any test that so much as tries to connect outside 127.0.0.0/8, refused or not.
"""

from __future__ import annotations

import socket

import pytest

from tests.faultserver import OutsideConnection, fault_server_fixture, loopback_only_fixture  # noqa: F401 - fixtures
from transforms.fetching.http import (
    FetchError,
    HttpConfig,
    address_category,
    blocked_reason,
    check_url,
    fetch,
    make_client,
)

pytestmark = pytest.mark.usefixtures("loopback_only")

LOOPBACK_ONLY = HttpConfig(
    allowed_networks=("127.0.0.0/8",), read_timeout=1, total_timeout=3, retries=0
)


class StubResolver:
    """getaddrinfo stand-in: fixed answers per name, every call recorded, no DNS, no sockets."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host, port, type=0):
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(-2, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.answers[host]
        ]


def refused(
    server, path: str, cfg: HttpConfig = LOOPBACK_ONLY, resolver=socket.getaddrinfo
) -> FetchError:
    with make_client(cfg) as client, pytest.raises(FetchError) as err:
        fetch(client, server.url(path), cfg, resolver=resolver)
    return err.value


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/x",
        "http://172.16.5.4/x",
        "http://192.168.0.1/admin",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00::1]/x",
        "http://[fe80::1]/x",
        "http://0.0.0.0:8080/",
        "http://[::ffff:192.168.0.1]/",
        "http://[64:ff9b::a00:1]/",
        "http://224.0.0.1/",
        "https://[::ffff:10.0.0.1]:8443/",
    ],
)
def test_redirect_to_a_literal_address_outside_the_allowed_networks(
    fault_server, target: str
) -> None:
    """With only 127.0.0.0/8 allowed, none of these is even dialled. (Public addresses are
    allowed, so no test ever redirects to one: it would really be dialled.)"""
    err = refused(fault_server, f"/redirect/to?url={target}")
    assert err.error_type == "blocked_host"
    assert len(fault_server.requests) == 1


def test_redirect_to_a_name_resolving_to_a_private_address(fault_server) -> None:
    resolver = StubResolver({"intranet.example": ["10.20.30.40"]})
    err = refused(fault_server, "/redirect/to?url=http://intranet.example/wiki", resolver=resolver)
    assert err.error_type == "blocked_host"
    assert "10.20.30.40" in str(err)
    assert resolver.calls == ["intranet.example"]


def test_a_name_with_one_private_answer_among_public_ones_is_refused(fault_server) -> None:
    resolver = StubResolver({"mixed.example": ["127.0.0.1", "10.0.0.1"]})
    err = refused(fault_server, "/redirect/to?url=http://mixed.example/", resolver=resolver)
    assert err.error_type == "blocked_host"


def test_metadata_address_refused_even_with_private_hosts_allowed(fault_server) -> None:
    cfg = LOOPBACK_ONLY.model_copy(update={"allow_private_hosts": True, "allowed_networks": ()})
    for target in (
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
    ):
        err = refused(fault_server, f"/redirect/to?url={target}", cfg)
        assert err.error_type == "blocked_host"
        assert "never fetched" in str(err)


def test_loopback_refused_without_an_allowance(fault_server) -> None:
    err = refused(fault_server, "/article/x", HttpConfig())
    assert err.error_type == "blocked_host"
    assert fault_server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "gopher://127.0.0.1/",
        "javascript:alert(1)",
        "data:text/html,<p>x</p>",
        "ws://127.0.0.1/",
    ],
)
def test_only_http_and_https_even_when_everything_is_allowed(url: str) -> None:
    with pytest.raises(FetchError) as err:
        check_url(url, allow_private_hosts=True, allowed_networks=["0.0.0.0/0"])
    assert err.value.error_type == "bad_scheme"


def test_the_connection_goes_to_the_checked_address(fault_server) -> None:
    """news.example has no DNS; the fetch works only because the vetted answer is dialled, and
    the server still sees the name in Host (TLS would see it in SNI)."""
    resolver = StubResolver({"news.example": ["127.0.0.1"]})
    with make_client(LOOPBACK_ONLY) as client:
        response = fetch(
            client,
            f"http://news.example:{fault_server.port}/echo-host",
            LOOPBACK_ONLY,
            resolver=resolver,
        )
    assert response.status == 200
    assert f"host=news.example:{fault_server.port}".encode() in response.body
    assert resolver.calls == ["news.example"]  # resolved once: by the check, not again to connect


def test_dns_rebinding_cannot_redirect_the_connection(fault_server, monkeypatch) -> None:
    """A resolver whose second answer would be private: there is no second lookup to win."""

    class Rebinding(StubResolver):
        def __call__(self, host, port, type=0):
            answers = super().__call__(host, port, type)
            self.answers[host] = ["10.0.0.1"]  # every later lookup points inside
            return answers

    system_getaddrinfo = socket.getaddrinfo

    def no_system_dns(host, *args, **kwargs):
        # Numeric addresses pass (create_connection "resolves" the pinned IP); names must not.
        if host == "rebind.example":
            raise AssertionError("the system resolver was asked after the check")
        return system_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_system_dns)
    resolver = Rebinding({"rebind.example": ["127.0.0.1"]})
    with make_client(LOOPBACK_ONLY) as client:
        response = fetch(
            client,
            f"http://rebind.example:{fault_server.port}/article/x",
            LOOPBACK_ONLY,
            resolver=resolver,
        )
    assert response.status == 200
    assert resolver.calls == ["rebind.example"]


def test_every_redirect_hop_is_checked_again(fault_server) -> None:
    """Same name, new answer on the second hop: the second hop is refused."""
    port = fault_server.port

    class Flip(StubResolver):
        def __call__(self, host, p, type=0):
            answers = super().__call__(host, p, type)
            self.answers[host] = ["192.168.1.1"]
            return answers

    resolver = Flip({"flip.example": ["127.0.0.1"]})
    with make_client(LOOPBACK_ONLY) as client, pytest.raises(FetchError) as err:
        fetch(
            client,
            f"http://flip.example:{port}/redirect/to?url=http://flip.example:{port}/article/x",
            LOOPBACK_ONLY,
            resolver=resolver,
        )
    assert err.value.error_type == "blocked_host"
    assert resolver.calls == ["flip.example", "flip.example"]
    assert len(fault_server.requests) == 1


def test_the_client_refuses_on_its_own_outside_fetch() -> None:
    """Used directly, the client still vets before dialling (here: a literal private address)."""
    with make_client(LOOPBACK_ONLY) as client, pytest.raises(FetchError) as err:
        client.get("http://10.0.0.1/")
    assert err.value.error_type == "blocked_host"


def test_the_guard_itself_refuses_outside_connections(loopback_only) -> None:
    """The safety net of these tests works: the connect raises before any packet is sent."""
    with socket.socket() as sock, pytest.raises(OutsideConnection):
        sock.connect(("10.0.0.1", 80))
    assert loopback_only == [("10.0.0.1", 80)]
    loopback_only.clear()  # expected here; any other test with an attempt fails at teardown


def test_unresolvable_name(fault_server) -> None:
    err = refused(
        fault_server, "/redirect/to?url=http://nowhere.invalid/", resolver=StubResolver({})
    )
    assert err.error_type == "dns_error"


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("fd12::1", "private"),
        ("100.64.0.1", "non-global"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a00:1::", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("93.184.216.34", None),
        ("2606:2800:220:1::", None),
        ("2002:5db8:d822::", None),
    ],
)
def test_address_categories(address: str, category: str | None) -> None:
    import ipaddress

    assert address_category(ipaddress.ip_address(address)) == category


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("fd00::1", True),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
    ],
)
def test_allow_private_hosts_never_opens_the_never_allowed(address: str, allowed: bool) -> None:
    assert (blocked_reason(address, allow_private_hosts=True) is None) == allowed


def test_allowed_networks_open_exactly_their_range() -> None:
    check_url("http://10.20.0.5/", allowed_networks=["10.20.0.0/16"])
    check_url("http://169.254.1.1/", allowed_networks=["169.254.0.0/16"])
    with pytest.raises(FetchError):
        check_url("http://10.21.0.5/", allowed_networks=["10.20.0.0/16"])


def test_allowed_networks_are_validated() -> None:
    with pytest.raises(ValueError, match="allowed_networks.*'10.0.0/33'"):
        HttpConfig(allowed_networks=("10.0.0/33",))
