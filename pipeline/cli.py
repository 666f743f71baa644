"""The ``newsbeam`` command line: the parser and the dispatch; commands live in commands.py.

Exit statuses (for schedulers):
  0  the run completed (dead letters or not)
  2  bad usage or bad configuration (one line on stderr says what)
  3  not a single feed could be read
  4  another run holds the output's lock
  5  the run completed, but more feeds or entries failed than --max-failure-rate allows
  130  stopped by SIGINT or SIGTERM; nothing published, the lock released
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence


def _drop_beam_import_noise(record: logging.LogRecord) -> bool:
    # Beam warns at import time about optional GCP client libraries we do not use.
    return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_drop_beam_import_noise)

from pipeline import commands, topics_cli  # noqa: E402 - after the filter: this import loads Beam
from pipeline import dask_runner  # noqa: E402 - also registers its Beam options (--dask_scheduler …)
from pipeline.config import ConfigError  # noqa: E402
from pipeline.reading import OutputError  # noqa: E402

EXIT_OK = commands.EXIT_OK
EXIT_CONFIG = commands.EXIT_CONFIG
EXIT_NO_FEEDS = commands.EXIT_NO_FEEDS
EXIT_LOCKED = commands.EXIT_LOCKED
EXIT_FAILURE_RATE = commands.EXIT_FAILURE_RATE
EXIT_INTERRUPTED = commands.EXIT_INTERRUPTED

# Commands whose unknown options are Beam pipeline options rather than mistakes.
BEAM_COMMANDS = frozenset({"run", "demo", "stream"})

EXAMPLES = {
    "run": """examples:
  newsbeam run --feed https://www.tagesschau.de/xml/rss2/ --output ./news
  newsbeam run --config configs/feeds.yaml --output ./news --date 2026-11-24 --workers auto
  newsbeam run --config configs/feeds.yaml --output ./news --runner dask --dask-scheduler tcp://sched:8786

Any option newsbeam does not know is passed to Beam (runner, workers, project …).""",
    "demo": """examples:
  newsbeam demo                     # writes ./newsbeam-demo
  newsbeam demo --output /tmp/demo""",
    "stream": """examples:
  newsbeam stream --config configs/feeds.yaml --output ./news
  newsbeam stream --feed https://www.tagesschau.de/xml/rss2/ --output ./news \
      --poll-interval 120 --window 300 --duration 3600

Runs until --duration has passed or it gets SIGINT/SIGTERM; files already written stay complete.""",
    "query": """examples:
  newsbeam query "select date, count(*) from articles group by date order by date" --output ./news
  newsbeam query "select stage, error_type, count(*) from dead_letter group by all" --output ./news --format csv
  newsbeam query "select run_id, counters->>'written' as written from runs" --output ./news --format json

Views: articles, dead_letter, runs (one row per run manifest).""",
    "show": """examples:
  newsbeam show --output ./news
  newsbeam show --output ./news --date 2026-11-24 --topic politics --language de --limit 50""",
    "report": """examples:
  newsbeam report --output ./news
  newsbeam report --output ./news --from 2026-11-01 --to 2026-11-30 --out november.html""",
    "validate-config": """examples:
  newsbeam validate-config configs/feeds.yaml""",
}


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}") from None


def _subparser(sub, name: str, help_text: str, description: str, parents=()) -> argparse.ArgumentParser:
    return sub.add_parser(
        name, help=help_text, description=description, epilog=EXAMPLES[name], parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )


def _output_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    common.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="json: log lines and the run summary as JSON, for schedulers")
    common.add_argument("-v", "--verbose", action="store_true", help="show Beam's own logs")
    return common


def _dask_scheduler(value: str) -> str:
    try:
        dask_runner.parse_scheduler(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _runner_options() -> argparse.ArgumentParser:
    """Which runner executes the graph: shared by run, demo and stream."""
    runner = argparse.ArgumentParser(add_help=False)
    runner.add_argument("--runner", metavar="NAME",
                        help="dask: run on a Dask cluster (see --dask-scheduler); any other name "
                        "is Beam's (default DirectRunner; DataflowRunner, FlinkRunner …)")
    runner.add_argument("--dask-scheduler", type=_dask_scheduler, metavar="ADDRESS",
                        help="with --runner dask: tcp://HOST:PORT of a running scheduler, or "
                        "local[:N] for N worker processes on this machine (default: local, one "
                        "per core). Every worker needs newsbeam installed")
    return runner


def _feed_options() -> argparse.ArgumentParser:
    """What to read and where to write: shared by run and stream."""
    feeds = argparse.ArgumentParser(add_help=False)
    feeds.add_argument("--config", help="YAML file with feeds and stage settings")
    feeds.add_argument("--feed", action="append", default=[], metavar="URL",
                       help="a feed URL (repeatable; works without --config)")
    feeds.add_argument("--output", required=True, metavar="DIR", help="output directory")
    feeds.add_argument("--allow-private-hosts", action="store_true",
                       help="allow fetching from private/loopback addresses (tests, intranets); "
                       "link-local (cloud metadata), multicast and reserved stay refused")
    return feeds


def _workers(value: str) -> int:
    if value == "auto":
        from transforms.inflight import cpu_count

        return cpu_count()
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if workers < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1 or 'auto', got {value!r}")
    return workers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbeam",
        description="News feeds to clean, enriched, topic-tagged Parquet on Apache Beam.",
        epilog="Run `newsbeam COMMAND --help` for a command's options and examples.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _output_options()
    runner = _runner_options()

    feeds = _feed_options()
    run = _subparser(sub, "run", "run the pipeline once over feeds",
                     "Fetch feeds and their articles, extract, clean, detect language and topic, "
                     "and write Parquet partitioned by date.", [common, feeds, runner])
    run.add_argument("--date", type=_date, default=None,
                     help="partition date YYYY-MM-DD (default: today, UTC)")
    run.add_argument("--max-failure-rate", type=float, default=None, metavar="RATE",
                     help="exit 5 when more than this share (0-1) of feeds or entries failed "
                     "(default 0.5, or max_failure_rate in the config)")
    run.add_argument("--workers", type=_workers, default=1, metavar="N",
                     help="processes on the local runner: 1 (default) does everything in this "
                     "process; N > 1 or 'auto' (one per core) extracts pages in N worker "
                     "processes while this one fetches and writes (1.7x the articles/s on 2 "
                     "cores, BENCHMARKS.md). Other runners size themselves")
    topics_cli.add_model_arg(run)
    run.set_defaults(func=commands.cmd_run)

    stream = _subparser(sub, "stream", "poll feeds continuously (streaming pipeline)",
                        "Poll feeds on an interval and write each new article once, in windows, "
                        "to the same layout as run.", [common, feeds, runner])
    stream.add_argument("--poll-interval", type=float, default=300.0, metavar="SECONDS",
                        help="seconds between polls of every feed (default 300)")
    stream.add_argument("--window", type=float, default=600.0, metavar="SECONDS",
                        help="seconds of articles per output file (default 600)")
    stream.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop by itself after this long (default: run until stopped)")
    topics_cli.add_model_arg(stream)
    stream.set_defaults(func=commands.cmd_stream)

    demo = _subparser(sub, "demo", "run the pipeline on the bundled demo site (offline)",
                      "Start a loopback server over the bundled demo feeds and pages and run the "
                      "real pipeline on it.", [common, runner])
    demo.add_argument("--output", default="newsbeam-demo", metavar="DIR",
                      help="output directory (default: ./newsbeam-demo)")
    demo.set_defaults(func=commands.cmd_demo)

    query = _subparser(sub, "query", "run SQL (duckdb) over an output directory",
                       "Run a SQL query over the output with duckdb.")
    query.add_argument("sql", help="the query")
    query.add_argument("--output", required=True, metavar="DIR", help="output directory")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table",
                       help="table (default), csv, or json (one object per line)")
    query.set_defaults(func=commands.cmd_query)

    show = _subparser(sub, "show", "list recent articles as a table",
                      "Show the most recent articles, newest first.")
    show.add_argument("--output", required=True, metavar="DIR", help="output directory")
    show.add_argument("--date", type=_date, help="only this partition date")
    show.add_argument("--topic", help="IPTC code or label, e.g. politics or medtop:11000000")
    show.add_argument("--language", help="ISO 639-1 code, e.g. de")
    show.add_argument("--source", help="part of the source name")
    show.add_argument("--limit", type=int, default=20, help="rows to show (default 20)")
    show.set_defaults(func=commands.cmd_show)

    report = _subparser(sub, "report", "write a static HTML report with plots",
                        "Write an HTML page with articles per day by topic and language, top "
                        "sources, dead letters by stage and reason, and the runs.")
    report.add_argument("--output", required=True, metavar="DIR", help="output directory")
    report.add_argument("--out", default="report.html", metavar="FILE",
                        help="where to write the page (default report.html)")
    report.add_argument("--from", dest="start", type=_date, help="first date (default: all)")
    report.add_argument("--to", dest="end", type=_date, help="last date (default: all)")
    report.set_defaults(func=commands.cmd_report)

    validate = _subparser(sub, "validate-config", "check a config file without running",
                          "Load and validate a YAML config; print what it would run.")
    validate.add_argument("config", metavar="FILE", help="the YAML config")
    validate.set_defaults(func=commands.cmd_validate_config)

    topics_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command not in BEAM_COMMANDS and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    commands.configure(args)
    try:
        if args.command in BEAM_COMMANDS:
            return args.func(args, rest)
        return args.func(args)
    except (ConfigError, OutputError) as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
