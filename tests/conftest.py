"""Shared fixtures: loopback sites serving the bundled demo pages and the test fixture pages."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.demo import demo_site
from pipeline.demo_server import SiteServer

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run_dofn(fn, elements, after_setup=None) -> list[tuple[str | None, object]]:
    """Drive a DoFn by hand through one bundle, as a runner would: (output tag or None, value)
    of everything it emits, Beam's window wrappers taken off. ``after_setup(fn)`` runs between
    ``setup`` and the bundle (to wait for a pool the DoFn started)."""

    def unwrap(outputs):
        for out in outputs:
            tag = getattr(out, "tag", None)
            value = out.value if tag else out
            yield tag, value.value if isinstance(value, WindowedValue) else value

    fn.setup()
    if after_setup is not None:
        after_setup(fn)
    fn.start_bundle()
    found = []
    try:
        for element in elements:
            found += unwrap(fn.process(element, 0, GlobalWindow()))
        found += unwrap(fn.finish_bundle())
    finally:
        fn.teardown()
    return found


@pytest.fixture(scope="session")
def demo_server() -> Iterator[SiteServer]:
    with SiteServer(demo_site()) as server:
        yield server


@pytest.fixture(scope="session")
def fixture_server() -> Iterator[SiteServer]:
    with SiteServer(FIXTURES / "site") as server:
        yield server


@pytest.fixture()
def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"
