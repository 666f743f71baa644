"""Airflow DAG: newsbeam once a day, its exit statuses mapped to retry or fail.

Operator: a PythonOperator that starts the newsbeam CLI as a subprocess from its own virtualenv.
- newsbeam is not installed into Airflow's environment: apache-beam and Airflow pin conflicting
  versions of shared libraries, so they get separate virtualenvs (NEWSBEAM_ARGV[0]).
- The exit status decides the outcome precisely: BashOperator and KubernetesPodOperator retry
  every failure alike, while exit 2 (bad config) and 5 (failure rate above the threshold) must
  fail at once — a retry would give the same answer — and 4 (lock held) should be retried later.
- With Beam flags added to NEWSBEAM_ARGV (--runner=DataflowRunner ...) the same task launches a
  Dataflow job and waits for it; the worker only runs the launcher.
To run the container image instead (deploy/Dockerfile), a KubernetesPodOperator with the same
arguments works; it then sees only "pod failed", so set retries with that in mind.

Dates: the schedule is a CronTriggerTimetable, whose logical date is the moment the run is due, so
"{{ ds }}" is the day the run happens (in Airflow 2 and 3 alike) and names the partition.
catchup is off: feeds only carry their latest items, so a run started late for a past date gets
today's items under that date. Runs missed during an outage are better left out; the next run
picks up whatever the feeds still carry. Clearing or backfilling a past date re-runs it and
REPLACES that date's articles with what the feeds carry now: only do it for recent dates.
max_active_runs=1: newsbeam's lock on object stores (gs://) is best effort, so Airflow must never
start two runs on one output.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import subprocess

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.timetables.trigger import CronTriggerTimetable

try:  # Airflow 3
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.python import PythonOperator

# The command line of a run; Airflow renders "{{ ds }}" (op_args are templated). A literal, so
# that tests/test_deploy.py parses it with the real CLI parser without Airflow installed.
NEWSBEAM_ARGV = [
    "/opt/newsbeam/bin/newsbeam",
    "run",
    "--config",
    "/etc/newsbeam/feeds.yaml",
    "--output",
    "/var/lib/newsbeam/news",
    "--date",
    "{{ ds }}",
    "--max-failure-rate",
    "0.5",
    # One SDK worker process per core of the Airflow worker (BENCHMARKS.md, Throughput).
    "--workers",
    "auto",
]

# newsbeam's exit statuses (pipeline/cli.py) → what the task does. Anything else (1: a crash,
# negative: killed by a signal) is retried like "retry".
EXIT_ACTIONS = {
    0: "success",
    2: "fail",  # bad usage or config: a retry gives the same answer
    3: "retry",  # no feed could be read: likely the network; try again later
    4: "retry",  # another run holds the output's lock: try again later
    5: "fail",  # run completed, failure rate above --max-failure-rate: data written, look at it
}

# How long newsbeam gets to clean up after SIGINT before it is killed.
STOP_GRACE_SECONDS = 120

log = logging.getLogger(__name__)


def run_newsbeam(argv: list[str]) -> None:
    """Run the CLI, stream its output into the task log, and map its exit status."""
    log.info("running: %s", " ".join(argv))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout or ():
            log.info("%s", line.rstrip("\n"))
        status = proc.wait()
    except BaseException:
        # Timeout or task killed: stop newsbeam with SIGINT, on which it discards its staged
        # files, releases the output's lock and exits 130 (SIGTERM does the same).
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    action = EXIT_ACTIONS.get(status, "retry")
    if action == "success":
        return
    message = f"newsbeam exited with status {status}"
    if action == "fail":
        raise AirflowFailException(message + " (not retried)")
    raise AirflowException(message + " (retried)")


with DAG(
    dag_id="newsbeam_daily",
    description="Daily newsbeam run: feeds to Parquet",
    schedule=CronTriggerTimetable("30 5 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=6),
    default_args={
        "owner": "newsbeam",
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=20),
        "execution_timeout": dt.timedelta(hours=3),
    },
    tags=["newsbeam"],
) as dag:
    PythonOperator(
        task_id="newsbeam_run",
        python_callable=run_newsbeam,
        op_args=[NEWSBEAM_ARGV],
    )
