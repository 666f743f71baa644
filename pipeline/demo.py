"""``newsbeam demo``: the real pipeline over the bundled demo site, served on loopback."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.config import parse_config, with_overrides
from pipeline.demo_server import SiteServer


def demo_site() -> Path:
    """The bundled site folder (package data of ``pipeline``)."""
    return Path(str(importlib.resources.files("pipeline").joinpath("demo_site")))


def demo_config(server: SiteServer):
    """The demo's feed list with the server's address filled in."""
    text = (demo_site() / "feeds.yaml").read_text("utf-8").replace("{base}", server.base)
    # Loopback is exactly what the safety check refuses by default; the demo is meant to use it.
    return with_overrides(parse_config(yaml.safe_load(text), "demo feeds.yaml"), [], True)


# A fixed port keeps the demo's URLs, and so its article ids, the same from one demo to the
# next, so a second demo shows the memory across runs at work.
DEMO_PORT = 8765


def _server() -> SiteServer:
    try:
        return SiteServer(demo_site(), port=DEMO_PORT)
    except OSError:  # the port is taken: any free one will do
        return SiteServer(demo_site())


def newsbeam_command() -> str:
    """How to call newsbeam from any shell, venv activated or not: the absolute path of the
    console script beside this Python, else this Python running the CLI module."""
    script = Path(sys.executable).with_name("newsbeam")
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m pipeline.cli"
    on_path = shutil.which("newsbeam")
    in_venv = sys.prefix != sys.base_prefix  # on PATH only while the venv is activated
    if on_path and not in_venv and Path(on_path).resolve() == script.resolve():
        return "newsbeam"
    return shlex.quote(str(script))


def run_demo(out: str, beam_args: list[str], date: str | None = None,
             say: Callable[[str], None] = print) -> int:
    from pipeline.commands import EXIT_INTERRUPTED, execute_run

    date = date or dt.datetime.now(dt.timezone.utc).date().isoformat()
    with _server() as server:
        say(f"demo site serving on {server.base}")
        code = execute_run(demo_config(server), out, date, beam_args)
    if code == EXIT_INTERRUPTED:
        return code
    say("")
    exe, where = newsbeam_command(), shlex.quote(out)
    say(f"look at it:  {exe} show --output {where}")
    say(f"query it:    {exe} query \"select language, topic_label, count(*) from articles group by all\" --output {where}")
    say(f"report:      {exe} report --output {where} --out {shlex.quote(out + '/report.html')}")
    return code
