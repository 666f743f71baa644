"""What a new user and a scheduler touch first: typos, one-line errors with their exit status,
signals, what the summary names, backfills that must not duplicate (issue 16).

Runs go through the real CLI against the loopback site of ``test_daily``; the few failures no
test can cause for real (a read-only or full file system, as root) are injected where the file
system would raise them.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import cli
from pipeline.cli import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_NO_FEEDS, EXIT_OK, main
from pipeline.config import ConfigError, load_config, parse_config
from tests.test_daily import Site, manifests, rows, run, story_ids
from transforms.records import ARTICLE_SCHEMA

REPO = Path(__file__).resolve().parents[1]
NEWSBEAM = Path(sys.executable).with_name("newsbeam")


@pytest.fixture()
def site(tmp_path: Path):
    s = Site(tmp_path / "site")
    with s.server:
        yield s


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        (["--dat", "2026-11-24"], "unknown option --dat (did you mean --date?)"),
        (["--allow-private-host"], "unknown option --allow-private-host (did you mean --allow-private-hosts?)"),
        (["--wokers", "2"], "unknown option --wokers (did you mean --workers?)"),
    ],
)
def test_a_typo_is_not_passed_to_beam(typo: list[str], meant: str, tmp_path: Path, capsys) -> None:
    code = main(["run", "--feed", "https://x.example/rss", "--output", str(tmp_path / "out"), *typo])
    assert code == EXIT_CONFIG
    assert meant in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_options_beam_knows_still_go_to_beam() -> None:
    known = ["--date", "--workers"]
    assert cli.unknown_option(known, ["--runner", "DirectRunner", "--direct_num_workers=2",
                                      "--direct_running_mode", "in_memory"], beam=True) is None
    assert cli.unknown_option(known, ["--runner=DirectRunner"], beam=False) == "unknown option --runner"
    assert cli.unknown_option(known, ["stray"], beam=True) == "unexpected argument 'stray'"


def test_help_does_not_import_beam() -> None:
    code = ("import sys; from pipeline import cli; cli.build_parser().format_help(); "
            "print(sorted(m for m in ('apache_beam', 'pyarrow', 'duckdb', 'pydantic') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "--output", ".", "--limit", "-1"],
        ["run", "--feed", "https://x.example/rss"],  # --output missing
        ["show", "--output", ".", "--date", "yesterday"],
    ],
)
def test_usage_errors_are_one_line(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == EXIT_CONFIG
    assert one_line_error(capsys.readouterr().err).startswith(f"newsbeam {argv[0]}: error:")


# -- one line and exit 2 -------------------------------------------------------------------------


def test_output_that_is_a_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "news"
    target.write_text("not a directory")
    code = main(["run", "--feed", "https://x.example/rss", "--output", str(target)])
    assert code == EXIT_CONFIG
    assert f"--output {target} is a file" in one_line_error(capsys.readouterr().err)


def test_read_only_output(tmp_path: Path, capsys, monkeypatch) -> None:
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith("_lock.json") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    code = main(["run", "--feed", "https://x.example/rss", "--output", str(tmp_path)])
    assert code == EXIT_CONFIG
    assert one_line_error(capsys.readouterr().err) == (
        f"newsbeam: error: {tmp_path}/_lock.json: Read-only file system")


def test_full_disk_during_a_run_keeps_the_previous_rows(site: Site, tmp_path: Path, capsys, monkeypatch) -> None:
    from apache_beam.io import parquetio

    out = tmp_path / "out"
    site.feed([1, 2])
    assert run(site, out, "2026-11-24") == EXIT_OK
    before = rows(out)
    capsys.readouterr()

    def full(self, writer, table):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "part-x.parquet")

    monkeypatch.setattr(parquetio._ParquetSink, "write_record", full)
    site.feed([1, 2, 3])
    assert run(site, out, "2026-11-24") == EXIT_CONFIG
    assert one_line_error(capsys.readouterr().err) == "newsbeam: error: part-x.parquet: No space left on device"
    assert rows(out) == before
    assert not (out / "_lock.json").exists()
    assert not any((out / "_staging").iterdir())


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("", "--output is empty: give a directory"),
        ("nosuchscheme://bucket/news", "--output nosuchscheme://bucket/news: Unable to get filesystem"),
    ],
)
def test_output_that_cannot_be_written(output: str, message: str, capsys) -> None:
    assert main(["run", "--feed", "https://x.example/rss", "--output", output]) == EXIT_CONFIG
    assert message in one_line_error(capsys.readouterr().err)


def test_ctrl_c_in_a_query_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    from pipeline import reading

    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(reading, "query", interrupted)
    assert main(["query", "select 1", "--output", str(tmp_path)]) == EXIT_INTERRUPTED
    assert one_line_error(capsys.readouterr().err) == "newsbeam query: stopped by SIGINT"


def test_missing_model_fails_before_the_run(site: Site, tmp_path: Path, capsys) -> None:
    site.feed([1])
    code = main(["run", "--feed", site.feed_url, "--output", str(tmp_path / "out"), "--allow-private-hosts",
                 "--model", str(tmp_path / "no-model")])
    assert code == EXIT_CONFIG
    assert f"--model {tmp_path / 'no-model'}: no such directory" in one_line_error(capsys.readouterr().err)
    assert site.server.requests == []  # nothing fetched
    (tmp_path / "empty-model").mkdir()
    assert main(["run", "--feed", site.feed_url, "--output", str(tmp_path / "out"),
                 "--model", str(tmp_path / "empty-model")]) == EXIT_CONFIG
    assert "not a topic model directory" in one_line_error(capsys.readouterr().err)


def test_missing_clean_rules_fail_before_the_run(tmp_path: Path, capsys) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(f"feeds:\n  - url: https://x.example/rss\nclean:\n  rules: {tmp_path / 'rules.yaml'}\n")
    assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == EXIT_CONFIG
    assert one_line_error(capsys.readouterr().err) == (
        f"newsbeam: error: clean.rules: cannot read {tmp_path / 'rules.yaml'}: No such file or directory")
    (tmp_path / "rules.yaml").write_text("rules: [\n")
    assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == EXIT_CONFIG
    assert f"clean.rules {tmp_path / 'rules.yaml'}: " in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_missing_model_for_classify(tmp_path: Path) -> None:
    done = subprocess.run([str(NEWSBEAM), "classify", "--model", str(tmp_path / "nope")], input='{"title": "x"}\n',
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_CONFIG
    assert "no such directory" in one_line_error(done.stderr)


def test_query_into_head_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(NEWSBEAM), "query", "select range as n from range(200000)", "--output", str(tmp_path),
         "--format", "csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "n"
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == EXIT_OK
    assert err == ""


def test_report_and_reader_errors(tmp_path: Path, capsys) -> None:
    out = tmp_path / "news"
    out.mkdir()
    cases = [
        (["report", "--output", str(out), "--out", str(tmp_path / "missing" / "r.html")],
         f"--out {tmp_path / 'missing' / 'r.html'}: no directory {tmp_path / 'missing'}"),
        (["report", "--output", str(out), "--from", "2026-11-30", "--to", "2026-11-01"],
         "--from 2026-11-30 is after --to 2026-11-01"),
        (["report", "--output", str(REPO / "docs")], f"{REPO / 'docs'} is not a newsbeam output"),
        (["show", "--output", str(REPO / "docs")], f"{REPO / 'docs'} is not a newsbeam output"),
        (["query", "select 1", "--output", str(tmp_path / "nowhere")], "no output directory at"),
    ]
    for argv, message in cases:
        assert main(argv) == EXIT_CONFIG, argv
        assert message in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "missing").exists()


# -- validate-config -----------------------------------------------------------------------------

BAD_CONFIG = """\
feeds:
  - name: one
    ulr: https://one.example/rss
  - url: https://two.example/rss
    language: German
  - url: ftp://three.example/rss
    topic: sprot
fetch:
  per_hots: 3
"""


def test_validate_config_lists_every_error_with_its_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(BAD_CONFIG)
    assert main(["validate-config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"newsbeam: error: {path}:3: feeds.0.ulr: unknown key 'ulr' (did you mean 'url'?)",
        f"newsbeam: error: {path}:5: feeds.1.language: language must be an ISO 639-1 code like 'de', got 'German'",
        f"newsbeam: error: {path}:6: feeds.2.url: feed url must start with http:// or https://, "
        "got 'ftp://three.example/rss'",
        f"newsbeam: error: {path}:7: feeds.2.topic: topic must be an IPTC code like 'medtop:11000000' or its "
        "label like 'politics', got 'sprot' (did you mean 'sport'?)",
        f"newsbeam: error: {path}:9: fetch.per_hots: unknown key 'per_hots' (did you mean 'per_host'?)",
    ]
    with pytest.raises(ConfigError) as one:  # a run names the first and counts the others
        load_config(path)
    assert "\n" not in str(one.value) and "(and 4 more; `newsbeam validate-config` lists them all)" in str(one.value)


@pytest.mark.parametrize(("given", "code"), [("sport", "medtop:15000000"), ("Sport", "medtop:15000000"),
                                             ("medtop:11000000", "medtop:11000000"),
                                             ("economy", "medtop:04000000"),
                                             ("economy, business and finance", "medtop:04000000")])
def test_topics_by_label_or_code(given: str, code: str) -> None:
    cfg = parse_config({"feeds": [{"url": "https://x.example/rss", "topic": given}]})
    assert cfg.feeds[0].topic == code


# -- what the run says ---------------------------------------------------------------------------


def test_summary_names_failed_feeds_and_counts_duplicate_of_rows(site: Site, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    site.feed([1, 7, 2])  # 7 is 1 with one word changed: written, with duplicate_of
    (site.root / "bad.xml").write_text("<rss><channel><title>x</channel></rss>")
    argv = ["run", "--feed", site.feed_url, "--feed", site.server.url("/missing.xml"),
            "--feed", site.server.url("/bad.xml"), "--output", str(out), "--date", "2026-11-24",
            "--allow-private-hosts", "--max-failure-rate", "1"]
    assert main(argv) == EXIT_OK
    said = capsys.readouterr().out
    assert f"    failed       {site.server.url('/missing.xml')}: http_error 404" in said
    assert f"    failed       {site.server.url('/bad.xml')}: not_a_feed: mismatched tag at line " in said
    marked = [r for r in rows(out) if r["duplicate_of"]]
    assert len(marked) == 1
    assert "  duplicates     0 not written again (already in the output), 1 written with duplicate_of" in said
    (m,) = manifests(out, "2026-11-24")
    assert m["counters"]["duplicate_of"] == 1
    assert m["feeds"]["failed_reasons"][site.server.url("/missing.xml")] == "http_error 404"

    # show: a topic by label, and a hint when nothing matches
    assert main(["show", "--output", str(out), "--topic", "sprot"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "(0 rows)" in captured.out
    assert "no topic 'sprot' (did you mean 'sport'?)" in one_line_error(captured.err)
    assert main(["show", "--output", str(out), "--topic", "weather"]) == EXIT_OK
    assert "no articles with topic 'weather' here; topics in this output:" in capsys.readouterr().err
    label = marked[0]["topic_label"]
    assert main(["show", "--output", str(out), "--topic", label]) == EXIT_OK
    assert capsys.readouterr().err == ""

    # report: by publication day, dead letters that agree with the runs table, "1 run"
    page = tmp_path / "r.html"
    assert main(["report", "--output", str(out), "--out", str(page)]) == EXIT_OK
    html = page.read_text()
    dead_rows = len(pq.read_table(out / "dead_letter" / "date=2026-11-24").to_pylist())
    assert f"3 articles, {dead_rows} dead letters, 1 run.</p>" in html
    assert f"<td>{dead_rows}</td><td>" in html.split("id='runs'")[1]


def test_blocked_host_is_named_with_the_way_out(site: Site, tmp_path: Path, capsys) -> None:
    site.feed([1])
    assert main(["run", "--feed", site.feed_url, "--output", str(tmp_path / "out")]) == EXIT_NO_FEEDS
    said = capsys.readouterr().out
    assert f"    failed       {site.feed_url}: blocked_host: " in said
    assert "pass --allow-private-hosts" in said


def test_backfill_writes_each_id_under_one_date(site: Site, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    assert run(site, out, "2026-11-24") == EXIT_OK  # today
    site.feed([1, 2, 3])
    assert run(site, out, "2026-11-20") == EXIT_OK  # a backfill over the same feed
    assert story_ids(rows(out, "2026-11-20")) == ["3"]
    capsys.readouterr()
    assert run(site, out, "2026-11-24", "--quiet") == EXIT_OK  # today again
    assert capsys.readouterr() == ("", "")  # --quiet: nothing but errors
    assert story_ids(rows(out, "2026-11-24")) == ["1", "2"]
    ids = [r["id"] for r in rows(out)]
    assert len(ids) == len(set(ids)) == 3


def _run_until_hanging(site: Site, out: Path, *extra: str) -> subprocess.Popen:
    site.feed([1, 2, 3])
    site.server.routes["/news/3.html"] = {"hang": True}
    proc = subprocess.Popen(
        [str(NEWSBEAM), "run", "--feed", site.feed_url, "--output", str(out), "--date", "2026-11-24",
         "--allow-private-hosts", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert site.server.hanging.wait(timeout=120), "the run never reached the hanging page"
    return proc


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_exits_130_in_one_line(signum: int, site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run_until_hanging(site, out)
    try:
        assert (out / "_lock.json").exists()
        proc.send_signal(signum)
        # At once, not when the hung fetch gives up (read timeout 20 s): the bound is that, not speed.
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED
    name = signal.Signals(signum).name
    assert one_line_error(stderr) == f"newsbeam: stopped by {name}; nothing was published, the lock is released"
    assert stdout == ""
    assert not (out / "articles").exists() or not any((out / "articles").rglob("*.parquet"))
    assert not (out / "_lock.json").exists()
    assert not any((out / "_staging").iterdir())


def test_retry_held_feeds_lifts_the_hold(site: Site, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    site.server.routes["/feed.xml"] = {"status": 503}
    for day in ("2026-11-21", "2026-11-22", "2026-11-23"):
        run(site, out, day)
    capsys.readouterr()
    requests = len(site.server.requests)
    run(site, out, "2026-11-24")
    assert len(site.server.requests) == requests  # held back
    said = capsys.readouterr().out
    assert f"    held back    {site.feed_url}: backoff after 3 failed runs until " in said
    assert "--retry-held-feeds fetches it now" in said
    del site.server.routes["/feed.xml"]
    site.feed([1])
    assert run(site, out, "2026-11-24", "--retry-held-feeds") == EXIT_OK
    assert story_ids(rows(out, "2026-11-24")) == ["1"]


def test_workers_runs_say_nothing_about_apitools(site: Site, tmp_path: Path) -> None:
    site.feed([1, 2])
    done = subprocess.run(
        [str(NEWSBEAM), "run", "--feed", site.feed_url, "--output", str(tmp_path / "out"), "--date", "2026-11-24",
         "--allow-private-hosts", "--workers", "2"], capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert "apitools" not in done.stderr
    assert done.stderr == ""


# -- README --------------------------------------------------------------------------------------


def test_readme_column_table_lists_every_column() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("`articles` — one row per article:", 1)[1].split("\n\n", 2)[1]
    named = {name for line in table.splitlines() if line.startswith("| `")
             for name in (part.strip(" `") for part in line.split("|")[1].split(","))}
    assert named == set(ARTICLE_SCHEMA.names)


def test_readme_states_the_test_time_and_the_model_licences() -> None:
    readme = (REPO / "README.md").read_text()
    assert "minutes" in readme.split("pytest -q", 1)[1].split("---", 1)[0]
    assert "non-commercial" in readme and "CC BY-NC-SA" in readme
    assert "configs/feeds.yaml) for every key and its default" in readme


def test_feeds_yaml_documents_every_key() -> None:
    import re
    import typing

    from pydantic import BaseModel

    from pipeline.config import RunConfig

    text = (REPO / "configs" / "feeds.yaml").read_text()
    written = set(re.findall(r"^[ #]*([a-z_]+):", text, re.MULTILINE))

    def keys(model: type[BaseModel]) -> set[str]:
        found = set()
        for name, field in model.model_fields.items():
            found.add(name)
            kinds = [field.annotation, *typing.get_args(field.annotation)]
            sub = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
            if sub is not None:
                found |= keys(sub)
        return found

    assert keys(RunConfig) - written == set()


def test_quiet_prints_nothing_not_even_library_warnings(fixture_server, tmp_path: Path, capsys) -> None:
    import logging

    argv = ["run", "--feed", fixture_server.url("/feeds/mixed.xml"), "--output", str(tmp_path / "out"),
            "--date", "2026-11-24", "--allow-private-hosts"]
    assert main([*argv, "--quiet"]) == EXIT_OK
    assert capsys.readouterr() == ("", "")
    # What trafilatura says about pages too short to extract, in the run's process
    logging.getLogger("trafilatura.core").warning("discarding data: %s", "http://x/short.html")
    logging.getLogger("pipeline.run").error("an error still shows")
    assert capsys.readouterr().err == "ERROR pipeline.run: an error still shows\n"
    assert os.environ["NEWSBEAM_WORKER_LOG_LEVEL"] == "ERROR"  # and in --workers processes


def test_report_plots_by_publication_day() -> None:
    import duckdb

    from pipeline import report

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(
        "create view articles as select * from (values "
        "('2026-11-24'::DATE, '2026-11-20 08:00:00+00'::TIMESTAMPTZ, '2026-11-24 05:00:00+00'::TIMESTAMPTZ, 'de'), "
        "('2026-11-24'::DATE, null, '2026-11-24 05:00:00+00'::TIMESTAMPTZ, 'en'), "
        "('2026-11-25'::DATE, '2026-11-20 23:59:00+00'::TIMESTAMPTZ, '2026-11-25 05:00:00+00'::TIMESTAMPTZ, 'de')"
        ") t(date, published_at, fetched_at, language)"
    )
    days, series = report._per_day(con, "language", "", [])
    assert days == ["2026-11-20", "2026-11-24"]  # not the partitions 24 and 25
    assert series == {"de": [2, 0], "en": [0, 1]}
    where, params = report._range_clause("2026-11-21", None, report.PUBLICATION_DAY)
    assert report._per_day(con, "language", where, params) == (["2026-11-24"], {"en": [1]})
