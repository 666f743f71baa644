"""What each ``newsbeam`` command does, given its parsed arguments."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.console import Progress, configure_logging, summary_lines

if TYPE_CHECKING:  # pipeline.config loads the stages, and they load Beam: not for --help
    from pipeline.config import RunConfig

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_NO_FEEDS = 3
EXIT_LOCKED = 4
EXIT_FAILURE_RATE = 5
EXIT_INTERRUPTED = 130  # the shell's code for a run stopped by a signal

_view = {"quiet": False, "log_format": "text"}


def configure(args: argparse.Namespace) -> None:
    """Logging and output style from the options every command shares."""
    _view["quiet"] = getattr(args, "quiet", False)
    _view["log_format"] = getattr(args, "log_format", "text")
    configure_logging(getattr(args, "verbose", False), _view["log_format"], _view["quiet"])


def _say(line: str = "") -> None:
    if not _view["quiet"]:
        print(line)


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def _report_summary(summary, version: str) -> None:
    if _view["quiet"]:
        return
    if _view["log_format"] == "json":
        print(json.dumps(summary.manifest(version), default=str))
        return
    for line in summary_lines(summary, summary.counters):
        print(line)


def execute_run(cfg: RunConfig, out: str, date: str, beam_args: list[str]) -> int:
    from pipeline.run import Interrupted, newsbeam_version, run, stop_on_sigterm
    from pipeline.state import LockHeld

    show_progress = sys.stderr.isatty() and not _view["quiet"] and _view["log_format"] == "text"
    try:
        # Also around run()'s own handlers: a signal while the run plans or starts is one line too.
        with Progress(len(cfg.feeds), sys.stderr, show_progress), stop_on_sigterm():
            summary = run(cfg, out, date, beam_args)
    except LockHeld as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except (Interrupted, KeyboardInterrupt) as exc:  # KeyboardInterrupt: before the run's handlers
        signame = str(exc) if isinstance(exc, Interrupted) else "SIGINT"
        print(f"newsbeam: stopped by {signame}; nothing was published, the lock is released",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    _report_summary(summary, newsbeam_version())
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


DASK_RUNNER = "pipeline.dask_runner.DaskRunner"
_DASK_NAMES = frozenset({"dask", "daskrunner", DASK_RUNNER.lower()})


def uses_dask(args: argparse.Namespace) -> bool:
    return (getattr(args, "runner", None) or "").lower() in _DASK_NAMES


def runner_args(args: argparse.Namespace, beam_args: list[str]) -> list[str]:
    """``--runner``/``--dask-scheduler`` as Beam options: ``dask`` is newsbeam's own runner
    (pipeline/dask_runner.py), any other name goes to Beam as it is."""
    scheduler = getattr(args, "dask_scheduler", None)
    if uses_dask(args):
        return [*beam_args, f"--runner={DASK_RUNNER}", f"--dask_scheduler={scheduler or 'local'}"]
    if scheduler:
        from pipeline.config import ConfigError

        raise ConfigError("--dask-scheduler needs --runner dask")
    runner = getattr(args, "runner", None)
    return [*beam_args, f"--runner={runner}"] if runner else beam_args




def check_output(out: str) -> None:
    """``--output`` of a run: a directory, or a path where one can be made (checked before the
    run starts, so a typo costs no fetching)."""
    from pipeline.config import ConfigError
    from pipeline.output import is_local

    if not out.strip():
        raise ConfigError("--output is empty: give a directory")
    if not is_local(out):
        from apache_beam.io.filesystems import FileSystems

        try:
            FileSystems.get_filesystem(out)
        except ValueError as exc:  # gs:// without apache-beam[gcp], an unknown scheme
            raise ConfigError(f"--output {out}: {str(exc).split('. Path specified', 1)[0]}") from None
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--output {out} is a file, not a directory")
    parent = next((p for p in [path, *path.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"--output {out}: {parent} is a file, not a directory")


def check_files(cfg: RunConfig) -> None:
    """The files a run's stages will load (topic model, cleaning rules), loaded once now: a bad
    one fails before anything is fetched, in one line, not as a stage's traceback later."""
    from pipeline.config import ConfigError
    from pipeline.topics_cli import load_model
    import yaml

    from transforms.text.clean import RuleError, load_rules

    if cfg.topic.model:
        load_model(cfg.topic.model)
    if cfg.clean.rules:
        try:
            load_rules(cfg.clean.rules)
        except OSError as exc:
            raise ConfigError(f"clean.rules: cannot read {cfg.clean.rules}: {exc.strerror}") from None
        except (RuleError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"clean.rules {cfg.clean.rules}: {str(exc).splitlines()[0]}") from None


def warc_hosts(value: str | None) -> tuple[str, ...]:
    """``--warc-hosts``: a file with one host per line, or a comma-separated list."""
    from pipeline.config import ConfigError
    from transforms.sources.warc import parse_hosts

    if not value:
        return ()
    path = Path(value)
    text = path.read_text("utf-8") if path.is_file() else value
    hosts = parse_hosts(text)
    if not hosts:
        raise ConfigError(f"--warc-hosts {value}: no host names in it")
    return hosts


def _warc_config(args: argparse.Namespace, cfg: RunConfig):
    from pipeline.config import ConfigError
    from transforms.sources.warc import WarcConfig

    since, until = args.since, args.until
    if args.date:
        if since or until:
            raise ConfigError("--date with --warc reads the records of that day; give it or --since/--until")
        since = until = args.date
    if since and until and since > until:
        raise ConfigError(f"--since {since} is after --until {until}")
    return WarcConfig(
        hosts=warc_hosts(args.warc_hosts),
        since=dt.date.fromisoformat(since) if since else None,
        until=dt.date.fromisoformat(until) if until else None,
        max_bytes=cfg.fetch.http.max_bytes,
    )


def _stage_config(args: argparse.Namespace):
    """The config of a run without feeds (WARC ingest, reprocess): stage settings only."""
    from pipeline.config import RunConfig, TopicConfig, load_config

    cfg = load_config(args.config) if getattr(args, "config", None) else RunConfig()
    if getattr(args, "model", None):
        cfg = cfg.model_copy(update={"topic": TopicConfig(model=args.model)})
    return cfg


def _replay(args: argparse.Namespace, beam_args: list[str], cfg, files, warc, kind: str, patterns) -> int:
    from pipeline.replay import replay
    from pipeline.run import Interrupted
    from pipeline.state import LockHeld

    try:
        manifests = replay(cfg, args.output, files, warc, kind, beam_args, patterns)
    except LockHeld as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except (Interrupted, KeyboardInterrupt) as exc:
        signame = str(exc) if isinstance(exc, Interrupted) else "SIGINT"
        print(f"newsbeam: stopped by {signame}; nothing was published, the lock is released",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if _view["log_format"] == "json":
        _say(json.dumps(manifests, default=str))
        return EXIT_OK
    beam_counters = manifests[0]["beam_counters"] if manifests else {}
    skipped = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted(beam_counters.items())
                        if k.startswith("warc/skipped:") and v) or "none"
    _say(f"newsbeam {kind} {manifests[0]['run_id'] if manifests else ''}: "
         f"{beam_counters.get('warc/files', 0)} WARC files, {beam_counters.get('warc/records', 0)} records, "
         f"{beam_counters.get('warc/pages', 0)} pages")
    _say(f"  skipped        {skipped}")
    _say(f"  damaged files  {beam_counters.get('warc/damaged', 0)}")
    for m in manifests:
        c = m["counters"]
        _say(f"  {m['date']}     {c['written']} articles, {c['dead_letter']} dead letters")
    if not manifests:
        _say("  nothing written: no record passed the filters")
    _say(f"  output         {args.output}")
    return EXIT_OK


def cmd_warc(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.config import ConfigError
    from pipeline.replay import warc_files

    if args.feed or args.opml:
        raise ConfigError("--warc reads pages from archives: give it without --feed/--opml")
    if args.archive:
        raise ConfigError("--archive keeps what a run fetches; a --warc run fetches nothing")
    check_output(args.output)
    cfg = _stage_config(args)
    check_files(cfg)
    warc = _warc_config(args, cfg)
    files = warc_files(args.warc)
    beam_args = runner_args(args, beam_args)
    return _replay(args, beam_args, with_workers(cfg, args.workers, beam_args), {None: files},
                   warc, "warc", args.warc)


def cmd_reprocess(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.replay import reprocess_files
    from transforms.sources.warc import WarcConfig

    check_output(args.output)
    cfg = _stage_config(args)
    check_files(cfg)
    files = reprocess_files(args.output, None if args.all else args.dates)
    warc = WarcConfig(max_bytes=cfg.fetch.http.max_bytes)
    beam_args = runner_args(args, beam_args)
    return _replay(args, beam_args, with_workers(cfg, args.workers, beam_args), files, warc,
                   "reprocess", None)


def cmd_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.config import ConfigError, RunConfig, load_config, with_overrides

    if args.warc:
        return cmd_warc(args, beam_args)
    for name in ("warc_hosts", "since", "until"):
        if getattr(args, name):
            raise ConfigError(f"--{name.replace('_', '-')} goes with --warc")
    beam_args = runner_args(args, beam_args)
    base = load_config(args.config) if args.config else RunConfig()
    if args.archive:
        base = base.model_copy(update={"archive": True})
    from pipeline.feedlists import with_opml

    base = with_opml(base, args.opml, args.allow_private_hosts)
    cfg = with_overrides(base, args.feed, args.allow_private_hosts, args.model, args.max_failure_rate)
    check_output(args.output)
    check_files(cfg)
    if args.retry_held_feeds:
        cfg = cfg.model_copy(update={"state": cfg.state.model_copy(update={"backoff_after_failures": 0})})
    return execute_run(with_workers(cfg, args.workers, beam_args), args.output, args.date or _today(), beam_args)


_LOCAL_RUNNERS = ("DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")


def with_workers(cfg: RunConfig, workers: int, beam_args: list[str]) -> RunConfig:
    """``--workers N`` (N > 1): extraction, the CPU cost, runs in N processes beside the
    pipeline's own. Only on the local runner: a distributed runner already runs a worker per
    core, and a pool in each of them would compete with the others."""
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.run import pipeline_options

    runner = pipeline_options(beam_args).view_as(StandardOptions).runner
    if workers <= 1 or runner.rsplit(".", 1)[-1] not in _LOCAL_RUNNERS:
        return cfg
    return cfg.model_copy(update={"extract": cfg.extract.model_copy(update={"processes": workers})})


def cmd_stream(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.config import RunConfig, load_config, with_overrides
    from pipeline.state import LockHeld
    from pipeline.stream import stream

    if uses_dask(args):
        print("newsbeam: error: stream needs a streaming runner; the Dask runner runs batch "
              "pipelines only (use newsbeam run)", file=sys.stderr)
        return EXIT_CONFIG
    beam_args = runner_args(args, beam_args)
    base = load_config(args.config) if args.config else RunConfig()
    from pipeline.feedlists import with_opml

    base = with_opml(base, args.opml, args.allow_private_hosts)
    if args.archive:
        base = base.model_copy(update={"archive": True})
    cfg = with_workers(with_overrides(base, args.feed, args.allow_private_hosts, args.model),
                       args.workers, beam_args)
    check_files(cfg)
    for name in ("poll_interval", "window"):
        if getattr(args, name) <= 0:
            print(f"newsbeam: error: --{name.replace('_', '-')} must be > 0", file=sys.stderr)
            return EXIT_CONFIG
    _say(f"streaming {len(cfg.feeds)} feeds into {args.output}: poll every {args.poll_interval:g}s, "
         f"files every {args.window:g}s" + (f", for {args.duration:g}s" if args.duration else "")
         + " (Ctrl-C stops)")
    try:
        manifest = stream(cfg, args.output, args.poll_interval, args.window, args.duration, beam_args)
    except LockHeld as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    if _view["log_format"] == "json" and not _view["quiet"]:
        print(json.dumps(manifest, default=str))
    else:
        c = manifest["counters"]
        _say(f"stream {manifest['run_id']} stopped ({manifest['stopped_by'] or 'end'}): "
             f"{c['written']} articles in {c['files']} files, {c['duplicate']} repeats skipped, "
             f"{c['dead_letter']} dead letters")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.demo import run_demo

    return run_demo(args.output, runner_args(args, beam_args), say=_say)


def cmd_query(args: argparse.Namespace) -> int:
    from pipeline.reading import format_rows, query

    names, rows = query(args.output, args.sql)
    print(format_rows(names, rows, args.format))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from pipeline.config import topic_code
    from pipeline.reading import format_rows, show

    topic = (topic_code(args.topic) or args.topic) if args.topic else None  # "economy" is medtop:04000000
    names, rows = show(args.output, args.date, topic, args.language, args.source, args.limit)
    print(format_rows(names, rows, "table", width=80))
    if args.topic and not rows:
        print(f"newsbeam: {topic_hint(args.output, args.topic)}", file=sys.stderr)
    return EXIT_OK


def topic_hint(output: str, topic: str) -> str:
    """Why ``show --topic`` found nothing: a near miss of a label, and the topics there are."""
    from pipeline.config import topic_code, topic_suggestion
    from pipeline.reading import connect

    present = [r[0] for r in connect(output).execute(
        "select distinct topic_label from articles where topic_label is not null order by 1").fetchall()]
    if topic_code(topic) is None and topic not in present:
        return (f"no topic {topic!r}{topic_suggestion(topic)}; give an IPTC code or label, "
                f"e.g. {', '.join(present[:8]) or 'politics, sport'}")
    return f"no articles with topic {topic!r} here; topics in this output: {', '.join(present) or 'none'}"


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError
    from pipeline.report import write_report

    if args.start and args.end and args.start > args.end:
        raise ConfigError(f"--from {args.start} is after --to {args.end}")
    target = Path(args.out)
    if target.is_dir():
        raise ConfigError(f"--out {args.out} is a directory; give a file name, e.g. {target / 'report.html'}")
    if not target.parent.is_dir():
        raise ConfigError(f"--out {args.out}: no directory {target.parent}")
    path = write_report(args.output, args.out, args.start, args.end)
    print(f"report written to {path}")
    return EXIT_OK


def cmd_validate_config(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError, load_config
    from pipeline.feedlists import with_opml

    try:
        cfg = with_opml(load_config(args.config), [])
    except ConfigError as exc:
        for line in exc.errors:
            print(f"newsbeam: error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    declared = sum(1 for f in cfg.feeds if f.topic)
    languages = sorted({f.language for f in cfg.feeds if f.language})
    print(f"{args.config}: ok — {len(cfg.feeds)} feeds ({', '.join(languages) or 'no language hints'}; "
          f"{declared} with a declared topic), fetch concurrency {cfg.fetch.concurrency}, "
          f"{cfg.fetch.per_host} per host")
    return EXIT_OK
