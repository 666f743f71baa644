"""The ``newsbeam`` command line.

Exit statuses (for schedulers):
  0  the run completed (dead letters or not)
  2  bad usage or bad configuration (one line on stderr says what)
  3  not a single feed could be read
  4  another run holds the output's lock
  5  the run completed, but more feeds or entries failed than --max-failure-rate allows
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

from pipeline import topics_cli  # noqa: E402 - after the filter: this import loads Beam
from pipeline.config import ConfigError, RunConfig, load_config, with_overrides  # noqa: E402

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_NO_FEEDS = 3
EXIT_LOCKED = 4
EXIT_FAILURE_RATE = 5

RUN_EXAMPLE = """example:
  newsbeam run --feed https://www.tagesschau.de/xml/rss2/ --output ./news
  newsbeam run --config configs/feeds.yaml --output ./news --date 2026-11-24 \\
      --direct_num_workers=2 --direct_running_mode=multi_processing

Any option newsbeam does not know is passed to Beam (runner, workers, project …)."""

DEMO_EXAMPLE = """example:
  newsbeam demo                     # writes ./newsbeam-demo
  newsbeam demo --output /tmp/demo"""


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}") from None


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbeam",
        description="News feeds to clean, enriched, topic-tagged Parquet on Apache Beam.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show Beam's own logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the pipeline once over feeds", allow_abbrev=False,
        description="Fetch feeds and their articles, extract, clean, detect language and topic, "
        "and write Parquet partitioned by date.",
        epilog=RUN_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--config", help="YAML file with feeds and stage settings")
    run.add_argument("--feed", action="append", default=[], metavar="URL",
                     help="a feed URL (repeatable; works without --config)")
    run.add_argument("--output", required=True, metavar="DIR", help="output directory")
    run.add_argument("--date", type=_date, default=None,
                     help="partition date YYYY-MM-DD (default: today, UTC)")
    run.add_argument("--allow-private-hosts", action="store_true",
                     help="allow fetching from private/loopback addresses (tests, intranets)")
    run.add_argument("--max-failure-rate", type=float, default=None, metavar="RATE",
                     help="exit 5 when more than this share (0-1) of feeds or entries failed "
                     "(default 0.5, or max_failure_rate in the config)")
    topics_cli.add_model_arg(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser(
        "demo", help="run the pipeline on the bundled demo site (offline)", allow_abbrev=False,
        description="Start a loopback server over the bundled demo feeds and pages and run the "
        "real pipeline on it.",
        epilog=DEMO_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--output", default="newsbeam-demo", metavar="DIR",
                      help="output directory (default: ./newsbeam-demo)")
    demo.set_defaults(func=cmd_demo)

    topics_cli.register(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        # Beam logs its runner choice and worker chatter at INFO/WARNING; users want our summary.
        logging.getLogger("apache_beam").setLevel(logging.ERROR)


def _print_summary(summary) -> None:
    for line in summary.lines():
        print(line)


def execute_run(cfg: RunConfig, out: str, date: str, beam_args: list[str]) -> int:
    from pipeline.run import run
    from pipeline.state import LockHeld

    try:
        summary = run(cfg, out, date, beam_args)
    except LockHeld as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    _print_summary(summary)
    attempted = summary.feeds - len(summary.feeds_skipped)
    if attempted and summary.feeds_ok == 0:
        print(f"newsbeam: error: none of the {attempted} feeds could be read "
              f"(see {out}/dead_letter/date={date})", file=sys.stderr)
        return EXIT_NO_FEEDS
    worst = max(summary.feed_failure_rate, summary.entry_failure_rate)
    if worst > cfg.max_failure_rate:
        print(f"newsbeam: error: failure rate {worst:.0%} above the allowed "
              f"{cfg.max_failure_rate:.0%} (feeds {summary.feed_failure_rate:.0%}, "
              f"entries {summary.entry_failure_rate:.0%})", file=sys.stderr)
        return EXIT_FAILURE_RATE
    return EXIT_OK


def cmd_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    base = load_config(args.config) if args.config else RunConfig()
    cfg = with_overrides(base, args.feed, args.allow_private_hosts, args.model, args.max_failure_rate)
    return execute_run(cfg, args.output, args.date or _today(), beam_args)


def cmd_demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.demo import run_demo

    return run_demo(args.output, beam_args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command not in ("run", "demo") and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    _configure_logging(args.verbose)
    try:
        if args.command in ("run", "demo"):
            return args.func(args, rest)
        return args.func(args)
    except ConfigError as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
