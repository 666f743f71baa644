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
import difflib
import logging
import os
import sys
from collections.abc import Sequence


def _drop_beam_import_noise(record: logging.LogRecord) -> bool:
    # Beam warns at import time about optional GCP client libraries we do not use.
    return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_drop_beam_import_noise)

# Light imports only: `newsbeam --help` must not wait for Beam. What loads Beam is imported
# by the commands that need it, after the arguments are parsed.
from pipeline import commands, topics_cli  # noqa: E402
from pipeline import feedlists  # noqa: E402

EXIT_OK = commands.EXIT_OK
EXIT_CONFIG = commands.EXIT_CONFIG
EXIT_NO_FEEDS = commands.EXIT_NO_FEEDS
EXIT_LOCKED = commands.EXIT_LOCKED
EXIT_FAILURE_RATE = commands.EXIT_FAILURE_RATE
EXIT_INTERRUPTED = commands.EXIT_INTERRUPTED

# Commands whose unknown options are Beam pipeline options rather than mistakes.
BEAM_COMMANDS = frozenset({"run", "demo", "stream", "reprocess"})

EXAMPLES = {
    "run": """examples:
  newsbeam run --feed https://www.tagesschau.de/xml/rss2/ --output ./news
  newsbeam run --config configs/feeds.yaml --output ./news --date 2026-11-24 --workers 1
  newsbeam run --config configs/feeds.yaml --output ./news --runner dask --dask-scheduler tcp://sched:8786
  newsbeam run --config configs/feeds.yaml --output ./news --archive
  newsbeam run --warc 'crawl/*.warc.gz' --warc-hosts example.com,example.org --output ./news

Options that Beam's PipelineOptions know are passed to Beam (--runner, --project …); any
other unknown option is an error.""",
    "reprocess": """examples:
  newsbeam reprocess --output ./news --date 2026-11-24
  newsbeam reprocess --output ./news --all --config configs/feeds.yaml

Only dates whose raw/date=…/ folder holds WARC files (newsbeam run --archive) can be rebuilt;
nothing is fetched. Ids, URLs and fetched_at stay those of the original fetch.""",
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


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value!r}")
    return number


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}") from None


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what a scheduler's log and a person both read), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
    from pipeline import dask_runner  # loads Beam: only when the option is given

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
    feeds.add_argument("--opml", action="append", default=[], metavar="FILE_OR_URL",
                       help="an OPML subscription list whose feeds to read (repeatable)")
    feeds.add_argument("--output", required=True, metavar="DIR", help="output directory")
    feeds.add_argument("--allow-private-hosts", action="store_true",
                       help="allow fetching from private/loopback addresses (tests, intranets); "
                       "link-local (cloud metadata), multicast and reserved stay refused")
    return feeds


def _workers(value: str) -> int:
    if value == "auto":
        from pipeline.cores import default_workers, usable_cores

        return default_workers(usable_cores())
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if workers < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1 or 'auto', got {value!r}")
    return workers


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
                     help="partition date YYYY-MM-DD (default: today, UTC); with --warc, rows go "
                     "under their record's date and --date reads only the records of that day")
    run.add_argument("--max-failure-rate", type=float, default=None, metavar="RATE",
                     help="exit 5 when more than this share (0-1) of feeds or entries failed "
                     "(default 0.5, or max_failure_rate in the config)")
    run.add_argument("--workers", type=_workers, default="auto", metavar="N",
                     help="processes on the local runner: 'auto' (default) extracts pages in one "
                     "process per usable core (affinity and cgroup CPU quota; one core: none) "
                     "while this one fetches and writes; 1 does everything in this process. "
                     "The rows written are the same. Other runners size themselves")
    run.add_argument("--retry-held-feeds", action="store_true",
                     help="fetch feeds that are held back after repeated failures, this run too")
    run.add_argument("--archive", action="store_true",
                     help="keep every fetched article answer as WARC under DIR/raw/date=…/ "
                     "(archive: true in the config does the same); newsbeam reprocess reads it")
    run.add_argument("--warc", action="append", default=[], metavar="PATTERN",
                     help="read pages from WARC files instead of feeds (repeatable; paths, globs, "
                     "gs:// s3:// … URLs); articles go under the date of their record")
    run.add_argument("--warc-hosts", metavar="FILE|LIST",
                     help="with --warc: keep only these hosts or domains (a file, one per line, "
                     "or a comma-separated list)")
    run.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                     help="with --warc: skip records dated before this day (UTC)")
    run.add_argument("--until", type=_date, metavar="YYYY-MM-DD",
                     help="with --warc: skip records dated after this day (UTC)")
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
    stream.add_argument("--workers", type=_workers, default="auto", metavar="N",
                        help="processes on the local runner, as for run: 'auto' (default) one "
                        "extraction process per usable core, 1 none; the files written are the same")
    stream.add_argument("--archive", action="store_true",
                        help="keep every fetched article answer as WARC under DIR/raw/date=…/, "
                        "one file per bundle (archive: true in the config does the same)")
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
    show.add_argument("--limit", type=_positive, default=20, help="rows to show (default 20)")
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

    reprocess = _subparser(sub, "reprocess", "extract archived dates again, without network",
                           "Rebuild the articles and dead letters of dates from their WARC archive "
                           "(written by run --archive) with today's extractor, rules and topic "
                           "model, and swap the partitions in.", [common, runner])
    reprocess.add_argument("--output", required=True, metavar="DIR", help="output directory")
    which = reprocess.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", dest="dates", action="append", type=_date, metavar="YYYY-MM-DD",
                       help="a date to rebuild (repeatable)")
    which.add_argument("--all", action="store_true", help="every date that has an archive")
    reprocess.add_argument("--config", help="YAML file with the stage settings (feeds are ignored)")
    reprocess.add_argument("--workers", type=_workers, default="auto", metavar="N",
                           help="processes on the local runner, as for run: 'auto' (default) one "
                           "extraction process per usable core, 1 none; the rows are the same")
    topics_cli.add_model_arg(reprocess)
    reprocess.set_defaults(func=commands.cmd_reprocess)

    topics_cli.register(sub)
    feedlists.register(sub)
    return parser


def beam_option_names() -> set[str]:
    """Every ``--option`` that one of Beam's PipelineOptions subclasses declares."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline import dask_runner  # noqa: F401 - registers its Beam options (--dask_partitions …)

    parser = argparse.ArgumentParser(add_help=False, conflict_handler="resolve")
    todo, seen = [PipelineOptions], set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo += cls.__subclasses__()
        try:
            cls._add_argparse_args(parser)
        except (argparse.ArgumentError, TypeError, ValueError):  # an odd subclass: skip it
            continue
    return {s for action in parser._actions for s in action.option_strings if s.startswith("--")}


def unknown_option(known: list[str], rest: list[str], beam: bool) -> str | None:
    """The complaint about the first argument neither newsbeam nor (for Beam commands) Beam
    knows, with the option it probably means; None when all of ``rest`` may go to Beam."""
    beam_names = beam_option_names() if beam else set()
    after_option = False
    for arg in rest:
        if not arg.startswith("-") or arg == "-":
            if not after_option:
                return f"unexpected argument {arg!r}"
            after_option = False
            continue
        name = arg.split("=", 1)[0]
        if name in beam_names:
            after_option = "=" not in arg
            continue
        close = (difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                 or difflib.get_close_matches(name, sorted(beam_names), n=1, cutoff=0.75))
        return f"unknown option {name}" + (f" (did you mean {close[0]}?)" if close else "")
    return None


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _quiet_stdout() -> None:
    """The reader of our stdout went away (``| head``): drop what is still buffered."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _exit_at_once(code: int) -> None:
    """End the process now, once a pipeline command is done (its files published or its
    staging discarded, the lock released, everything printed). After a signal, fetch threads
    still waiting on a slow server would hold the process for up to their read timeout, and a
    second Ctrl-C meanwhile would end in a traceback from the interpreter's shutdown. After a
    run that went well, the shutdown only frees memory object by object: 1.2 s of a 49 s run of
    2,000 pages (bench/throughput.py)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _os_error(exc: OSError) -> str:
    return f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc.strerror or exc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest:
        known = [s for a in _subcommand(parser, args.command)._actions for s in a.option_strings]
        problem = unknown_option(known, rest, beam=args.command in BEAM_COMMANDS)
        if problem:
            print(f"newsbeam {args.command}: error: {problem}", file=sys.stderr)
            return EXIT_CONFIG
    commands.configure(args)
    if args.command in BEAM_COMMANDS and not commands.uses_dask(args):
        # The language model takes ~1.5 s to load, mostly decompression that leaves the
        # interpreter free: started now, it overlaps the imports and graph building below
        # instead of holding up the pipeline's first article.
        from transforms.enrichment.language_model import preload

        preload()
    from pipeline.config import ConfigError
    from pipeline.reading import OutputError

    try:
        if args.command in BEAM_COMMANDS:
            code = args.func(args, rest)
            if argv is None:
                _exit_at_once(code)
            return code
        return args.func(args)
    except (ConfigError, OutputError) as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C in a query, a report, classify (runs say more themselves)
        print(f"newsbeam {args.command}: stopped by SIGINT", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the file system said no: read-only, full, not a directory …
        print(f"newsbeam: error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
