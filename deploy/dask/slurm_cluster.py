"""Run one newsbeam command on a Dask cluster of SLURM jobs (dask-jobqueue), then release them.

    python deploy/dask/slurm_cluster.py --jobs 4 --cores 4 --memory 8GB --account ACCT -- \
        newsbeam run --config /etc/newsbeam/feeds.yaml --output /shared/news --runner dask

Starts a ``SLURMCluster`` (the scheduler in this process, one SLURM job per Dask worker), waits
for every worker, runs the command with ``--dask-scheduler`` set to the scheduler's address,
and closes the cluster whatever the command's exit status, which it returns (deploy/README.md
says what each status means). Run it where ``sbatch`` works (a login node, or inside an
allocation); the workers' Python is this one's (``--python``), so the environment with newsbeam
installed (``pip install 'newsbeam[dask]'``) must be on a filesystem the compute nodes mount, as
must ``--output``. Needs ``pip install dask-jobqueue`` next to newsbeam.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

# How long to wait for every SLURM job to start before giving up (a busy queue is normal).
WORKERS_TIMEOUT_S = 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs, one Dask worker each")
    parser.add_argument("--cores", type=int, default=4, help="cores per job (worker threads)")
    parser.add_argument("--memory", default="8GB", help="memory per job")
    parser.add_argument("--walltime", default="02:00:00")
    parser.add_argument("--account", help="SLURM account (-A)")
    parser.add_argument("--queue", help="SLURM partition (-p)")
    parser.add_argument("--python", default=sys.executable, help="the workers' Python")
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="after --: the newsbeam command, with --runner dask",
    )
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or "--runner" not in command:
        parser.error("give the newsbeam command after --, with --runner dask")

    from dask_jobqueue import SLURMCluster
    from distributed import Client

    cluster = SLURMCluster(
        cores=args.cores,
        processes=1,  # one worker process per job, its threads share the job's cores
        memory=args.memory,
        walltime=args.walltime,
        account=args.account,
        queue=args.queue,
        python=args.python,
        # The compute nodes fetch news sites: they need outbound HTTP(S), often via a proxy
        # exported here (job_script_prologue=["export HTTPS_PROXY=…"]).
    )
    try:
        cluster.scale(jobs=args.jobs)
        with Client(cluster) as client:
            # Every worker up first: the run splits its work by the workers there at its start.
            client.wait_for_workers(args.jobs, timeout=WORKERS_TIMEOUT_S)
        return subprocess.call([*command, "--dask-scheduler", cluster.scheduler_address])
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
