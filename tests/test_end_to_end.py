"""The real CLI over loopback sites, read back with pyarrow and duckdb."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from pipeline.cli import EXIT_CONFIG, EXIT_NO_FEEDS, EXIT_OK, main

DATE = "2026-11-24"
SEED_CREDIT = "picture alliance / ASSOCIATED PRESS"


def _articles(out: Path) -> list[dict]:
    table = ds.dataset(out / "articles", format="parquet", partitioning="hive").to_table()
    return table.to_pylist()


def _dead(out: Path) -> list[dict]:
    table = ds.dataset(out / "dead_letter", format="parquet", partitioning="hive").to_table()
    return table.to_pylist()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`newsbeam demo` exactly as a newcomer runs it: the installed console script."""
    out = tmp_path_factory.mktemp("demo") / "out"
    exe = Path(sys.executable).with_name("newsbeam")
    proc = subprocess.run(
        [str(exe), "demo", "--output", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return out, proc


def test_demo_exits_ok_and_summarizes(demo_run) -> None:
    out, proc = demo_run
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "feeds read     2/3" in proc.stdout
    assert "entries        13" in proc.stdout
    assert "written        10" in proc.stdout
    assert "duplicates     1" in proc.stdout
    assert "dead letters   fetch_article 2, parse_feed 1" in proc.stdout
    # The closing hints work in a shell without the venv activated.
    exe = Path(sys.executable).with_name("newsbeam")
    assert f"look at it:  {exe} show --output {out}" in proc.stdout


def test_demo_seed_article(demo_run) -> None:
    out, _ = demo_run
    (seed,) = [a for a in _articles(out) if a["url"].endswith("/tagesblick/politik/putin-china.html")]
    assert "(Foto:" not in seed["text"]
    assert "Quelle:" not in seed["text"]
    assert seed["text"].startswith("Die NATO befürchtet eine militärische Eskalation im Ukraine-Konflikt")
    assert SEED_CREDIT in seed["image_credits"]
    assert seed["language"] == "de"
    assert seed["topic"] == "medtop:11000000"
    assert seed["topic_label"] == "politics"
    assert 0 < seed["topic_score"] <= 1
    assert seed["published_at"] is not None
    assert seed["published_at"].isoformat() == "2026-11-24T08:15:00+00:00"
    assert seed["text_source"] == "page"
    assert seed["title"] == "Putin sucht die Nähe zu China"
    assert seed["source"] == "Tagesblick"
    assert "utm_" not in seed["url"] and "#" not in seed["url"]
    assert seed["word_count"] > 200


def test_demo_read_back_with_duckdb(demo_run) -> None:
    out, _ = demo_run
    rows = duckdb.sql(
        f"select language, count(*) from read_parquet('{out}/articles/*/*.parquet', hive_partitioning=true) "
        "group by language order by language"
    ).fetchall()
    assert rows == [("de", 5), ("en", 5)]
    seed = duckdb.sql(
        f"select topic, image_credits, typeof(published_at), date from "
        f"read_parquet('{out}/articles/*/*.parquet', hive_partitioning=true) "
        "where url like '%putin-china.html'"
    ).fetchall()[0]
    assert seed[0] == "medtop:11000000"
    assert SEED_CREDIT in seed[1]
    assert seed[2] == "TIMESTAMP WITH TIME ZONE"


def test_demo_dead_letters(demo_run) -> None:
    out, _ = demo_run
    dead = sorted((d["stage"], d["url"].split("/", 3)[-1], d["error_type"], d["http_status"]) for d in _dead(out))
    assert dead == [
        ("fetch_article", "tagesblick/dokumente/haushaltsplan.pdf", "unsupported_content_type", 200),
        ("fetch_article", "tagesblick/politik/geloescht.html", "http_error", 404),
        ("parse_feed", "broken/feed.xml", "not_a_feed", 200),
    ]
    assert all(d["error_message"] and d["failed_at"] is not None for d in _dead(out))


def test_demo_redirect_keeps_final_url(demo_run) -> None:
    out, _ = demo_run
    (rally,) = [a for a in _articles(out) if a["url"].endswith("/meridian/r/markets-rally")]
    assert rally["final_url"].endswith("/meridian/business/markets-rally.html")
    assert rally["language"] == "en"


def test_run_with_feed_flags_only(fixture_server, tmp_path) -> None:
    """--feed without a config; charsets, relative links, feed-text fallback, failures."""
    out = tmp_path / "out"
    code = main(["run", "--feed", fixture_server.url("/feeds/mixed.xml"),
                 "--feed", fixture_server.url("/feeds/latin1.xml"),
                 "--output", str(out), "--date", DATE, "--allow-private-hosts"])
    assert code == EXIT_OK
    articles = {a["url"].split("/", 3)[-1]: a for a in _articles(out)}
    assert set(articles) == {"pages/a.html", "pages/short.html", "pages/latin1.html", "pages/cp1252.html"}
    assert "Größere Einschränkungen" in articles["pages/latin1.html"]["text"]
    assert "„vorerst“" in articles["pages/cp1252.html"]["text"]
    assert articles["pages/short.html"]["text_source"] == "feed"
    assert articles["pages/a.html"]["text_source"] == "page"
    assert {a["date"] for a in articles.values()} == {DATE}
    dead = sorted((d["stage"], d["error_type"]) for d in _dead(out))
    assert dead == [("canonicalize", "bad_link"), ("fetch_article", "http_error"),
                    ("fetch_article", "unsupported_content_type")]


def test_private_hosts_refused_without_flag(fixture_server, tmp_path, capsys) -> None:
    code = main(["run", "--feed", fixture_server.url("/feeds/mixed.xml"), "--output", str(tmp_path)])
    assert code == EXIT_NO_FEEDS
    assert "none of the 1 feeds could be read" in capsys.readouterr().err
    (letter,) = _dead(tmp_path)
    assert letter["error_type"] == "blocked_host"


def test_unreachable_feed_exit_status(closed_port_url, tmp_path, capsys) -> None:
    code = main(["run", "--feed", closed_port_url, "--output", str(tmp_path), "--allow-private-hosts"])
    assert code == EXIT_NO_FEEDS
    assert _articles(tmp_path) == []
    assert [d["error_type"] for d in _dead(tmp_path)] == ["connection_error"]


def test_bad_config_exit_status(tmp_path, capsys) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(json.dumps({"feeds": [{"url": "https://x.example/rss", "language": "deutsch"}]}))
    code = main(["run", "--config", str(cfg), "--output", str(tmp_path / "out")])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert err.startswith("newsbeam: error:") and "language" in err and "\n" not in err


def test_rerun_replaces_the_partition(fixture_server, tmp_path) -> None:
    args = ["run", "--feed", fixture_server.url("/feeds/latin1.xml"), "--output", str(tmp_path),
            "--date", DATE, "--allow-private-hosts"]
    assert main(args) == EXIT_OK
    first = sorted(a["id"] for a in _articles(tmp_path))
    assert main(args) == EXIT_OK
    assert sorted(a["id"] for a in _articles(tmp_path)) == first
    assert len(list((tmp_path / "articles" / f"date={DATE}").iterdir())) == 1
    assert not (tmp_path / "_staging").exists() or not any((tmp_path / "_staging").iterdir())
