"""The deploy/ recipes, checked without Docker, Kubernetes, Airflow or network.

- Every ``newsbeam …`` command line in deploy/ (Markdown code blocks and inline code, the cron line,
  the unit's ExecStart, comments, the CronJob's container args, the DAG's argument list) parses
  with the real CLI parser; the options newsbeam passes on must be options Beam knows.
- Dockerfile: parsed statically (there is no Docker engine in CI).
- cron, systemd, Kubernetes, Airflow: their structure and exit-status handling; systemd units also
  through ``systemd-analyze verify`` where the tool exists (the only test that may skip).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions
from packaging.specifiers import SpecifierSet

from pipeline import cli

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
CRON = DEPLOY / "cron" / "newsbeam.cron"
SERVICE = DEPLOY / "systemd" / "newsbeam.service"
TIMER = DEPLOY / "systemd" / "newsbeam.timer"
K8S = DEPLOY / "k8s" / "cronjob.yaml"
DASK_K8S = DEPLOY / "k8s" / "dask.yaml"
SLURM = DEPLOY / "dask" / "slurm_cluster.py"
DAG = DEPLOY / "airflow" / "newsbeam_dag.py"

# A real date for templated ones: the parser's --date type must accept what the template becomes.
SAMPLE_DATE = "2026-11-24"
TEMPLATES = {
    "{{ ds }}": SAMPLE_DATE,
    "{{ds}}": SAMPLE_DATE,
    "$(date -u +%F)": SAMPLE_DATE,
    "$(date -u +\\%F)": SAMPLE_DATE,
}
# Shell tokens that end a command line: redirections, pipes, lists.
SHELL_OPERATOR = re.compile(r"^(?:;|&&|\|\||\||&|\d?>.*|&>.*|<.*)$")
# At least this many newsbeam command lines per file: a command whose subcommand is misspelt
# would not be recognised as one, and must not vanish silently.
MIN_COMMANDS = {
    "Dockerfile": 1,
    "README.md": 2,
    "airflow/newsbeam_dag.py": 1,
    "cron/newsbeam.cron": 1,
    "dataflow.md": 4,
    "dask.md": 4,
    "dask/slurm_cluster.py": 1,
    "flink.md": 2,
    "warc.md": 4,
    "k8s/cronjob.yaml": 2,
    "systemd/newsbeam.service": 1,
}


def _subcommands() -> list[str]:
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    raise AssertionError("the newsbeam parser has no subcommands")


SUBCOMMANDS = _subcommands()
# The program: a bare `newsbeam`, a path ending in /newsbeam, or an image named newsbeam with a tag
# (whose entrypoint is newsbeam), preceded by the line's start, blanks or "=" (ExecStart=…).
COMMAND = re.compile(
    r"(?:^|(?<=[\s=]))(?P<program>(?:[^\s=]*/)?newsbeam(?::[\w.-]+)?)\s+(?:"
    + "|".join(re.escape(s) for s in SUBCOMMANDS)
    + r")(?=\s|$)"
)


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join(self.argv)}"


def _fill_templates(text: str) -> str:
    for template, value in TEMPLATES.items():
        text = text.replace(template, value)
    return text


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, numbered by their first physical line."""
    out, buf, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not buf:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\") and not stripped.endswith("\\\\"):
            buf += stripped[:-1] + " "
            continue
        out.append((start, buf + line))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def _commands_in_line(where: str, line: str) -> list[Command]:
    found = []
    line = _fill_templates(line)
    for match in COMMAND.finditer(line):
        try:
            tokens = shlex.split(line[match.start("program") :])
        except ValueError as exc:
            raise AssertionError(
                f"{where}: cannot split the command line ({exc}): {line}"
            ) from None
        argv = []
        for token in tokens:
            if SHELL_OPERATOR.match(token):
                break
            argv.append(token)
        found.append(Command(where, tuple(argv)))
    return found


def _markdown_commands(rel: str, text: str) -> list[Command]:
    """Commands in fenced code blocks, and in inline code that is more than `newsbeam <command>`."""
    commands, fenced, block = [], False, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            if fenced:
                for offset, logical in _logical_lines("\n".join(code for _n, code in block)):
                    commands += _commands_in_line(f"{rel}:{block[0][0] + offset - 1}", logical)
                block = []
            fenced = not fenced
            continue
        if fenced:
            block.append((number, line))
            continue
        for span in re.findall(r"`([^`]+)`", line):
            commands += [c for c in _commands_in_line(f"{rel}:{number}", span) if len(c.argv) > 2]
    return commands


def _commented_yaml_args(text: str) -> list[list[str]]:
    """`args:` lists inside YAML comments (the commented alternatives), loaded as YAML."""
    lines = [
        line.split("#", 1)[1] if line.lstrip().startswith("#") else None
        for line in text.splitlines()
    ]
    found = []
    for i, line in enumerate(lines):
        if line is None or line.strip() != "args:":
            continue
        indent = len(line) - len(line.lstrip())
        block = [line]
        for following in lines[i + 1 :]:
            if following is None or not following.strip():
                break
            if len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        found.append(yaml.safe_load("\n".join(b[indent:] for b in block))["args"])
    return found


def _k8s_docs() -> list[dict]:
    return list(yaml.safe_load_all(K8S.read_text()))


def _cronjob() -> dict:
    return next(d for d in _k8s_docs() if d["kind"] == "CronJob")


def _dag_module_constants() -> dict[str, object]:
    tree = ast.parse(DAG.read_text(), filename=str(DAG))
    constants = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return constants


def deploy_commands() -> list[Command]:
    commands = []
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        rel = path.relative_to(DEPLOY).as_posix()
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".md":
            commands += _markdown_commands(rel, text)
            continue
        for number, line in _logical_lines(text):
            commands += _commands_in_line(f"{rel}:{number}", line)
    # The image's entrypoint is `newsbeam`: the CronJob's args, live and commented, follow it.
    for container in _cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]:
        commands.append(
            Command("k8s/cronjob.yaml:args", ("newsbeam", *map(str, container["args"])))
        )
    for i, args in enumerate(_commented_yaml_args(K8S.read_text())):
        commands.append(
            Command(f"k8s/cronjob.yaml:commented args {i + 1}", ("newsbeam", *map(str, args)))
        )
    argv = _dag_module_constants()["NEWSBEAM_ARGV"]
    commands.append(
        Command("airflow/newsbeam_dag.py:NEWSBEAM_ARGV", tuple(_fill_templates(a) for a in argv))
    )
    return commands


COMMANDS = deploy_commands()
def _beam_options() -> frozenset[str]:
    """Options Beam knows now: importing a runner module (e.g. Beam's DaskRunner in another test)
    registers its options, so a set taken at import time would call them unknown."""
    return frozenset(PipelineOptions([]).get_all_options())


def _parse(command: Command) -> tuple[argparse.Namespace, list[str]]:
    try:
        return cli.build_parser().parse_known_args(list(command.argv[1:]))
    except SystemExit:
        pytest.fail(f"the newsbeam parser rejects {command}")


# -- command lines -------------------------------------------------------------------------------


def test_every_recipe_has_its_command_lines() -> None:
    counts = {}
    for command in COMMANDS:
        key = command.where.split(":", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    for rel, least in MIN_COMMANDS.items():
        assert counts.get(rel, 0) >= least, (
            f"{rel}: {counts.get(rel, 0)} newsbeam commands, expected >= {least}"
        )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.where)
def test_command_line_parses_with_the_real_cli(command: Command) -> None:
    assert Path(command.argv[0].split(":", 1)[0]).name == "newsbeam", command
    assert not any("{{" in a or "}}" in a for a in command.argv), f"unfilled template in {command}"
    args, rest = _parse(command)
    assert args.command in SUBCOMMANDS
    if args.command not in cli.BEAM_COMMANDS:
        assert rest == [], f"{command}: unknown options {rest}"
        return
    if args.command == "run":
        assert args.output, command
        assert args.config or args.feed or args.warc, f"{command}: no --config, --feed or --warc: nothing to read"
    assert all(not r.startswith("-") or r.startswith("--") for r in rest), command
    if rest:
        assert rest[0].startswith("--"), f"{command}: stray argument {rest[0]!r}"
        try:
            given = PipelineOptions(rest).get_all_options(retain_unknown_options=True)
        except SystemExit:
            pytest.fail(f"Beam rejects the pipeline options of {command}")
        unknown = sorted(set(given) - _beam_options())
        assert not unknown, f"{command}: neither newsbeam nor Beam knows {unknown}"


def test_templated_dates_are_filled_and_checked() -> None:
    dag = next(c for c in COMMANDS if c.where.startswith("airflow/"))
    args, _ = _parse(dag)
    assert args.date == SAMPLE_DATE
    bad = Command("example", ("newsbeam", "run", "--output", "out", "--date", "{{ ds }}"))
    with pytest.raises(SystemExit):
        cli.build_parser().parse_known_args(list(bad.argv[1:]))


def test_command_finder_sees_prompts_paths_images_and_continuations() -> None:
    text = (
        "$ /opt/nb/bin/newsbeam run --output ./news \\\n"
        "    --feed https://example.org/rss --date {{ ds }} >> log 2>&1\n"
        "ExecStart=/usr/bin/newsbeam run --output /srv/news --feed https://example.org/rss\n"
        "docker run --rm newsbeam:1.2.3 show --output /data\n"
        "the newsbeam command line is not a command; neither is newsbeam-sdk:1 run\n"
    )
    found = [c.argv for n, line in _logical_lines(text) for c in _commands_in_line(f"x:{n}", line)]
    assert found == [
        (
            "/opt/nb/bin/newsbeam",
            "run",
            "--output",
            "./news",
            "--feed",
            "https://example.org/rss",
            "--date",
            SAMPLE_DATE,
        ),
        ("/usr/bin/newsbeam", "run", "--output", "/srv/news", "--feed", "https://example.org/rss"),
        ("newsbeam:1.2.3", "show", "--output", "/data"),
    ]


# -- Dockerfile ----------------------------------------------------------------------------------

INSTRUCTIONS = frozenset(
    {
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    }
)
PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*:(?P<version>\d+\.\d+\.\d+)(?:-[a-z0-9.-]+)?$")


def _dockerfile_instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuations joined and comment lines dropped."""
    out, buf, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#") or (not buf and not line.strip()):
            continue
        if not buf:
            start = number
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        keyword, _, rest = (buf + line).strip().partition(" ")
        out.append((start, keyword, " ".join(rest.split())))
        buf = ""
    assert not buf, "Dockerfile ends inside a continuation"
    return out


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[int, str, str]]


def _dockerfile() -> tuple[dict[str, str], list[Stage]]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, keyword, rest in _dockerfile_instructions(DOCKERFILE.read_text()):
        assert keyword in INSTRUCTIONS, f"Dockerfile:{number}: unknown instruction {keyword!r}"
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            assert len(parts) in (1, 3) and (len(parts) == 1 or parts[1].upper() == "AS"), rest
            image = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], parts[0])
            stages.append(Stage(image, parts[2] if len(parts) == 3 else None, []))
        else:
            assert stages, f"Dockerfile:{number}: {keyword} before the first FROM"
            stages[-1].instructions.append((number, keyword, rest))
    return global_args, stages


def _values(stage: Stage, keyword: str) -> list[str]:
    return [rest for _n, k, rest in stage.instructions if k == keyword]


def test_dockerfile_bases_are_pinned_to_exact_versions() -> None:
    global_args, stages = _dockerfile()
    names = set()
    for stage in stages:
        if stage.image in names:
            continue  # an earlier stage
        match = PINNED_IMAGE.match(stage.image)
        assert match, f"base image {stage.image!r} is not pinned to an exact version tag"
        if stage.name:
            names.add(stage.name)
    assert "latest" not in DOCKERFILE.read_text()
    python = [s.image for s in stages if s.image.startswith("python:")]
    assert python and all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", p) for p in python), (
        python
    )
    beam = global_args["BEAM_VERSION"]
    spec = re.search(r'"apache-beam([^"]*)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert beam in SpecifierSet(spec), f"BEAM_VERSION {beam} outside pyproject's apache-beam{spec}"
    assert any(s.image == f"apache/beam_python3.11_sdk:{beam}" for s in stages)


def test_dockerfile_runs_newsbeam_as_non_root_with_an_output_volume() -> None:
    _, stages = _dockerfile()
    for stage in stages:
        for user in _values(stage, "USER"):
            assert user.split(":")[0] not in ("root", "0"), f"stage {stage.name}: USER {user}"
    final = stages[-1]
    users = _values(final, "USER")
    assert users and users[-1].split(":")[0].isdigit(), "final stage must set a numeric USER"
    assert json.loads(_values(final, "ENTRYPOINT")[-1]) == ["newsbeam"]
    assert "/data" in json.loads(_values(final, "VOLUME")[-1])
    assert _values(final, "STOPSIGNAL") == ["SIGINT"]
    for stage in stages:
        for run in _values(stage, "RUN"):
            if "pip install" in run:
                assert "--no-cache-dir" in run, run


def _copy_sources() -> list[str]:
    _, stages = _dockerfile()
    names = {s.name for s in stages if s.name}
    sources = []
    assert not any(_values(s, "ADD") for s in stages), "use COPY, not ADD"
    for stage in stages:
        for rest in _values(stage, "COPY"):
            parts = rest.split()
            flags = [p for p in parts if p.startswith("--")]
            paths = [p for p in parts if not p.startswith("--")]
            source_stage = next(
                (f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None
            )
            if source_stage:
                assert source_stage in names, f"COPY --from={source_stage}: no such stage"
                continue
            sources += paths[:-1]
    return sources


def test_dockerfile_copies_what_the_package_build_needs_and_it_exists() -> None:
    sources = _copy_sources()
    for source in sources:
        assert (ROOT / source).exists(), f"COPY source {source} is not in the repository"
    copied = {s.rstrip("/") for s in sources}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert {
        "pyproject.toml",
        re.search(r'^readme = "([^"]+)"', pyproject, re.MULTILINE).group(1),
    } <= copied
    include = re.findall(r'"([^"]+)"', re.search(r"include = \[([^\]]*)\]", pyproject).group(1))
    packages = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists()
        and any(fnmatch.fnmatch(p.name, pattern) for pattern in include)
    }
    assert packages and packages <= copied, f"packages not copied: {packages - copied}"


def test_dockerignore_keeps_every_copied_path() -> None:
    ignore = DEPLOY / "Dockerfile.dockerignore"
    patterns = [
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".venv" in patterns and ".git" in patterns
    for source in _copy_sources():
        path = source.rstrip("/")
        hits = [p for p in patterns if fnmatch.fnmatch(path, p.rstrip("/"))]
        assert not hits, f"{source} is copied but excluded by {hits}"


# -- cron ----------------------------------------------------------------------------------------

CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _cron_field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
    return True


def _cron_entries(text: str) -> list[tuple[list[str], str, str]]:
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"^\w+=", line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"not a system crontab line (5 times, user, command): {line}"
        entries.append((fields[:5], fields[5], fields[6]))
    return entries


def test_cron_line_is_well_formed_daily_and_unprivileged() -> None:
    entries = _cron_entries(CRON.read_text())
    assert len(entries) == 1
    times, user, command = entries[0]
    for field, (low, high) in zip(times, CRON_RANGES):
        assert _cron_field_ok(field, low, high), f"bad cron field {field!r}"
    minute, hour, dom, month, dow = times
    assert minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*", "*", "*"), (
        "once a day"
    )
    assert user not in ("root", "0")
    assert not re.search(r"(?<!\\)%", command), "unescaped % in a cron command means newline"
    assert ">>" in command and "2>&1" in command, "the run must log to a file"


def test_cron_field_check_rejects_nonsense() -> None:
    assert (
        _cron_field_ok("*/15", 0, 59)
        and _cron_field_ok("1-5", 0, 7)
        and _cron_field_ok("0,30", 0, 59)
    )
    assert (
        not _cron_field_ok("60", 0, 59)
        and not _cron_field_ok("mon", 0, 7)
        and not _cron_field_ok("*/x", 0, 59)
    )


def test_cron_comment_explains_every_exit_status() -> None:
    comments = "\n".join(line for line in CRON.read_text().splitlines() if line.startswith("#"))
    for status in (
        cli.EXIT_OK,
        cli.EXIT_CONFIG,
        cli.EXIT_NO_FEEDS,
        cli.EXIT_LOCKED,
        cli.EXIT_FAILURE_RATE,
    ):
        assert re.search(rf"^#\s+{status}\s", comments, re.MULTILINE), (
            f"exit status {status} not explained"
        )


# -- systemd -------------------------------------------------------------------------------------


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, line in _logical_lines(path.read_text()):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_service_is_a_hardened_oneshot_writing_only_its_output() -> None:
    service = _unit(SERVICE)["Service"]
    assert service["Type"] == ["oneshot"]
    assert service["User"][-1] not in ("root", "0")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "KillSignal": "SIGINT",
    }.items():
        assert service.get(key) == [value], key
    (command,) = [c for c in COMMANDS if c.where.startswith("systemd/newsbeam.service")]
    output = _parse(command)[0].output
    writable = " ".join(service["ReadWritePaths"]).split()
    assert any(output == w or output.startswith(w.rstrip("/") + "/") for w in writable), (
        output,
        writable,
    )
    no_restart = {int(s) for s in " ".join(service["RestartPreventExitStatus"]).split()}
    assert no_restart == {cli.EXIT_CONFIG, cli.EXIT_FAILURE_RATE}
    assert service["Restart"] == ["on-failure"]


def test_timer_is_daily_and_catches_up_missed_runs() -> None:
    timer = _unit(TIMER)
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Timer"]["RandomizedDelaySec"]
    (calendar,) = timer["Timer"]["OnCalendar"]
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d(:\d\d)?( UTC)?|daily", calendar), calendar
    assert timer["Timer"].get("Unit", ["newsbeam.service"]) == [SERVICE.name]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_finds_nothing_wrong(tmp_path: Path) -> None:
    """Every line systemd-analyze prints is a finding (unknown keys, bad values only warn and
    still exit 0), so any output fails the test, with one exception: the ExecStart binary is
    missing when newsbeam is not installed at /opt/newsbeam on this machine. The unit's User= is
    not looked up by verify, so the user need not exist."""
    for unit in (SERVICE, TIMER):
        shutil.copy(unit, tmp_path / unit.name)
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            str(tmp_path / SERVICE.name),
            str(tmp_path / TIMER.name),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (command,) = [c for c in COMMANDS if c.where.startswith("systemd/newsbeam.service")]
    program = command.argv[0]
    ignored = re.compile(
        rf"Command {re.escape(program)} is not executable: No such file or directory$"
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    findings = [line for line in lines if not (ignored.search(line) and not Path(program).exists())]
    assert not findings, "\n".join(findings)
    assert result.returncode == 0 or lines, result


# -- Kubernetes ----------------------------------------------------------------------------------


def test_every_k8s_document_is_a_kubernetes_object() -> None:
    docs = _k8s_docs()
    assert docs and all(isinstance(d, dict) for d in docs), "empty or non-mapping YAML document"
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), (
            doc
        )
    assert {d["kind"] for d in docs} >= {"CronJob", "PersistentVolumeClaim"}


def test_cronjob_never_overlaps_and_runs_unprivileged() -> None:
    cronjob = _cronjob()
    spec = cronjob["spec"]
    assert cronjob["apiVersion"] == "batch/v1"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["startingDeadlineSeconds"], int) and spec["startingDeadlineSeconds"] > 0
    times = spec["schedule"].split()
    assert len(times) == 5 and all(
        _cron_field_ok(f, lo, hi) for f, (lo, hi) in zip(times, CRON_RANGES)
    )
    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["backoffLimit"], int)
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert (
        pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    )
    (container,) = pod["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]
    image = container["image"]
    assert re.search(r":\d+\.\d+\.\d+$", image) and "latest" not in image, image


def test_cronjob_fails_at_once_on_config_and_failure_rate_exits() -> None:
    job = _cronjob()["spec"]["jobTemplate"]["spec"]
    container = job["template"]["spec"]["containers"][0]["name"]
    fail = [r["onExitCodes"] for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert fail == [
        {
            "containerName": container,
            "operator": "In",
            "values": [cli.EXIT_CONFIG, cli.EXIT_FAILURE_RATE],
        }
    ]


def test_cronjob_output_is_the_pvc_and_config_the_configmap() -> None:
    pvc = next(d for d in _k8s_docs() if d["kind"] == "PersistentVolumeClaim")
    pod = _cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args, _ = _parse(Command("k8s", ("newsbeam", *map(str, container["args"]))))
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}

    def volume_of(path: str) -> dict:
        owners = [p for p in mounts if path.startswith(p.rstrip("/") + "/")]
        assert owners, f"{path} is on no mounted volume"
        return mounts[max(owners, key=len)]

    assert volume_of(args.output)["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    config_volume = volume_of(args.config)["configMap"]
    assert Path(args.config).name in {i["path"] for i in config_volume["items"]}


def test_commented_gcs_alternative_uses_a_bucket_and_workload_identity() -> None:
    text = K8S.read_text()
    (alternative,) = _commented_yaml_args(text)
    args, _ = _parse(Command("k8s alternative", ("newsbeam", *map(str, alternative))))
    assert args.output.startswith("gs://")
    assert "iam.gke.io/gcp-service-account" in text


# -- Airflow -------------------------------------------------------------------------------------


def _dag_call() -> ast.Call:
    tree = ast.parse(DAG.read_text(), filename=str(DAG))
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "DAG"
    ]
    assert len(calls) == 1
    return calls[0]


def test_dag_parses_runs_one_at_a_time_and_dates_by_ds() -> None:
    keywords = {k.arg: k.value for k in _dag_call().keywords}
    assert ast.literal_eval(keywords["max_active_runs"]) == 1
    assert isinstance(ast.literal_eval(keywords["catchup"]), bool)
    assert "schedule" in keywords
    argv = _dag_module_constants()["NEWSBEAM_ARGV"]
    assert argv[argv.index("--date") + 1] == "{{ ds }}"


def test_dag_exit_table_matches_the_cli() -> None:
    assert _dag_module_constants()["EXIT_ACTIONS"] == {
        cli.EXIT_OK: "success",
        cli.EXIT_CONFIG: "fail",
        cli.EXIT_NO_FEEDS: "retry",
        cli.EXIT_LOCKED: "retry",
        cli.EXIT_FAILURE_RATE: "fail",
    }


class _AirflowException(Exception):
    pass


class _AirflowFailException(_AirflowException):
    pass


@pytest.fixture()
def dag_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The DAG file imported over a minimal fake of the Airflow API it uses (no Airflow here)."""
    created: dict[str, list] = {"dags": [], "tasks": []}

    class FakeDAG(contextlib.AbstractContextManager):
        def __init__(self, **kwargs) -> None:
            self.kwargs = kwargs
            created["dags"].append(self)

        def __exit__(self, *exc) -> None:
            return None

    class FakeOperator:
        def __init__(self, **kwargs) -> None:
            self.kwargs = kwargs
            created["tasks"].append(self)

    class FakeTimetable:
        def __init__(self, cron: str, *, timezone: str) -> None:
            self.cron, self.timezone = cron, timezone

    modules = {
        "airflow": {"DAG": FakeDAG},
        "airflow.exceptions": {
            "AirflowException": _AirflowException,
            "AirflowFailException": _AirflowFailException,
        },
        "airflow.timetables": {},
        "airflow.timetables.trigger": {"CronTriggerTimetable": FakeTimetable},
        "airflow.sdk": {"DAG": FakeDAG},
        "airflow.providers": {},
        "airflow.providers.standard": {},
        "airflow.providers.standard.operators": {},
        "airflow.providers.standard.operators.python": {"PythonOperator": FakeOperator},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("newsbeam_dag", DAG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.created = created
    return module


def test_dag_wires_one_task_with_the_command_line(dag_module: types.ModuleType) -> None:
    (dag,) = dag_module.created["dags"]
    (task,) = dag_module.created["tasks"]
    assert dag.kwargs["max_active_runs"] == 1
    assert dag.kwargs["schedule"].timezone == "UTC"
    assert task.kwargs["python_callable"] is dag_module.run_newsbeam
    assert task.kwargs["op_args"] == [dag_module.NEWSBEAM_ARGV]


@pytest.mark.parametrize(
    "status, raised",
    [
        (cli.EXIT_OK, None),
        (cli.EXIT_CONFIG, _AirflowFailException),
        (cli.EXIT_NO_FEEDS, _AirflowException),
        (cli.EXIT_LOCKED, _AirflowException),
        (cli.EXIT_FAILURE_RATE, _AirflowFailException),
        (1, _AirflowException),
    ],
)
def test_dag_task_maps_exit_statuses(
    dag_module: types.ModuleType, status: int, raised: type | None
) -> None:
    argv = [sys.executable, "-c", f"print('summary line'); raise SystemExit({status})"]
    if raised is None:
        dag_module.run_newsbeam(argv)
        return
    with pytest.raises(_AirflowException) as info:
        dag_module.run_newsbeam(argv)
    assert type(info.value) is raised
    assert f"status {status}" in str(info.value)


# -- Dask ----------------------------------------------------------------------------------------


def _dask_docs() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(DASK_K8S.read_text())}


def _pod(doc: dict) -> dict:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def test_dask_launcher_workers_and_scheduler_agree() -> None:
    docs = _dask_docs()
    service = docs[("Service", "newsbeam-dask-scheduler")]
    scheduler = _pod(docs[("Deployment", "newsbeam-dask-scheduler")])["containers"][0]
    worker_pod = _pod(docs[("Deployment", "newsbeam-dask-worker")])
    launcher_pod = _pod(docs[("CronJob", "newsbeam-dask")])
    (worker,), (launcher,) = worker_pod["containers"], launcher_pod["containers"]
    args, rest = _parse(Command("k8s/dask.yaml:args", ("newsbeam", *map(str, launcher["args"]))))
    assert args.command == "run" and args.runner == "dask" and rest == []
    (port,) = service["spec"]["ports"]
    address = f"tcp://{service['metadata']['name']}:{port['port']}"
    assert args.dask_scheduler == address
    assert worker["command"][:3] == ["dask", "worker", address]
    assert scheduler["command"][:2] == ["dask", "scheduler"]
    assert str(port["targetPort"]) == scheduler["command"][scheduler["command"].index("--port") + 1]
    # The Service selects the scheduler's pods, and only them.
    labels = docs[("Deployment", "newsbeam-dask-scheduler")]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    worker_labels = docs[("Deployment", "newsbeam-dask-worker")]["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    # One image: the workers run the launcher's newsbeam.
    assert worker["image"] == launcher["image"] == scheduler["image"]
    assert re.search(r":\d+\.\d+\.\d+$", launcher["image"])


def test_dask_workers_write_where_the_launcher_commits() -> None:
    docs = _dask_docs()
    worker_pod = _pod(docs[("Deployment", "newsbeam-dask-worker")])
    launcher_pod = _pod(docs[("CronJob", "newsbeam-dask")])
    args, _ = _parse(Command("k8s/dask.yaml:args", ("newsbeam", *map(str, launcher_pod["containers"][0]["args"]))))

    def claim_of(pod: dict, path: str) -> str:
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        owners = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")]
        assert owners, f"{path} is on no mounted volume"
        return volumes[max(owners, key=lambda m: len(m["mountPath"]))["name"]]["persistentVolumeClaim"]["claimName"]

    claim = claim_of(launcher_pod, args.output)
    assert claim_of(worker_pod, args.output) == claim
    assert docs[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteMany"]
    for pod in (worker_pod, launcher_pod):
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_dask_launcher_fails_at_once_on_config_and_failure_rate_exits() -> None:
    job = _dask_docs()[("CronJob", "newsbeam-dask")]["spec"]
    assert job["concurrencyPolicy"] == "Forbid"
    rules = job["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert [r["onExitCodes"]["values"] for r in rules if r["action"] == "FailJob"] == [
        [cli.EXIT_CONFIG, cli.EXIT_FAILURE_RATE]
    ]


def _slurm_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("slurm_cluster", SLURM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slurm_recipe_refuses_a_command_without_the_dask_runner() -> None:
    with pytest.raises(SystemExit) as stop:
        _slurm_module().main(["--", "newsbeam", "run", "--output", "/shared/news"])
    assert stop.value.code == 2


def test_slurm_recipe_hands_the_cluster_to_the_command_and_always_closes_it(monkeypatch) -> None:
    # dask-jobqueue is not installed here: a stand-in records what the recipe asks of it.
    events = []

    class FakeCluster:
        scheduler_address = "tcp://10.1.2.3:8786"

        def __init__(self, **kwargs) -> None:
            events.append(("cluster", kwargs["cores"], kwargs["processes"]))

        def scale(self, jobs: int) -> None:
            events.append(("scale", jobs))

        def close(self) -> None:
            events.append(("close",))

    class FakeClient:
        def __init__(self, cluster) -> None:
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def wait_for_workers(self, n: int, timeout: float) -> None:
            events.append(("wait", n))

    monkeypatch.setitem(sys.modules, "dask_jobqueue", types.SimpleNamespace(SLURMCluster=FakeCluster))
    monkeypatch.setitem(sys.modules, "distributed", types.SimpleNamespace(Client=FakeClient))
    module = _slurm_module()
    monkeypatch.setattr(module.subprocess, "call", lambda argv: events.append(("run", argv)) or 5)
    command = ["newsbeam", "run", "--config", "f.yaml", "--output", "/shared/news", "--runner", "dask"]
    assert module.main(["--jobs", "3", "--cores", "2", "--", *command]) == 5
    assert events == [("cluster", 2, 1), ("scale", 3), ("wait", 3),
                      ("run", [*command, "--dask-scheduler", "tcp://10.1.2.3:8786"]), ("close",)]
    args, rest = cli.build_parser().parse_known_args(events[3][1][1:])
    assert args.dask_scheduler == "tcp://10.1.2.3:8786" and rest == []


def test_dockerfile_compiles_the_kernels_into_a_cache_the_runtime_user_owns(
    tmp_path: Path,
) -> None:
    _, stages = _dockerfile()
    base = next(s for s in stages if s.name == "base")
    env = " ".join(_values(base, "ENV"))
    cache = re.search(r"NUMBA_CACHE_DIR=(\S+)", env).group(1)
    warm = next(r for r in _values(base, "RUN") if "predict_proba" in r)
    assert f"chown -R 10001:10001 {str(Path(cache).parent)}" in warm
    # The build step's command, run here against a fresh cache: it must compile the kernel
    # functions inference calls, so that a container's first article finds them cached.
    command = re.search(r'python -c "([^"]+)"', warm).group(1)
    run_env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", command], cwd=ROOT, env=run_env, check=True)
    cached = {p.name.split("-")[0] for p in tmp_path.rglob("*.nbi")}
    assert {"topic_kernel.probabilities", "topic_kernel.word_bounds"} <= cached
    assert {"language_kernel.feature_counts", "language_kernel.gather_rows"} <= cached
