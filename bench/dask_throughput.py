"""`newsbeam run` on a Dask LocalCluster of 2 workers against the DirectRunner with --workers 2.

The same loopback site as bench/throughput.py (N pages over H hosts, each answer delayed by a
fixed latency, served from a child process). In one run the script measures:

  (1) DirectRunner --workers 2          articles/s, CPU s, peak RSS of the process tree
  (2) --runner dask --dask-scheduler local:2
                                         the same, cluster start-up included (it is part of a run)
  (3) scheduler overhead per task        on a LocalCluster of 2 workers: wall time per no-op task
                                         for independent tasks (client.map) and for a chain, and
                                         the number of tasks newsbeam's graph makes at 2
                                         partitions, so (3) x tasks is the runner's overhead
                                         per run

and prints the ratios. Both runs write the same rows (tests/test_dask_runner.py checks that).

Usage:
  python bench/dask_throughput.py                 # N=1000, 20 hosts, 50 ms latency
  python bench/dask_throughput.py --n 2000 --tasks 4000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import REPO, Site, load_pages, pipeline_run

sys.path.insert(0, str(REPO))


def _noop(x: int) -> int:
    return x


def _next(x: int) -> int:
    return x + 1


def scheduler_overhead(tasks: int) -> tuple[float, float, float]:
    """(cluster start s, ms per independent task, ms per task of a chain) on 2 workers."""
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        started = time.perf_counter() - start
        client.gather(client.map(_noop, range(50), key=[f"warm-{i}" for i in range(50)]))
        t0 = time.perf_counter()
        client.gather(client.map(_noop, range(tasks)))
        independent = (time.perf_counter() - t0) / tasks
        chain = client.submit(_next, 0, pure=False)
        t0 = time.perf_counter()
        links = max(1, tasks // 10)
        for _ in range(links):
            chain = client.submit(_next, chain, pure=False)
        chain.result()
        chained = (time.perf_counter() - t0) / links
    return started, 1000 * independent, 1000 * chained


def graph_size(site: Site, partitions: int) -> tuple[int, int]:
    """(tasks, bundles) of newsbeam's whole batch graph on the Dask runner at ``partitions``."""
    import apache_beam as beam

    from pipeline import dask_runner
    from pipeline.config import RunConfig, with_overrides
    from pipeline.graph import RunPlan, build
    from transforms.records import FeedSpec

    cfg = with_overrides(RunConfig(), site.feed_urls(), True)
    plan = RunPlan(
        date="2026-12-01",
        feeds=[FeedSpec(url=u) for u in site.feed_urls()],
        memory=[],
        articles_prefix="/tmp/x/a",
        dead_prefix="/tmp/x/d",
        status_prefix="/tmp/x/s",
        duplicates_prefix="/tmp/x/u",
        feed_cache_dir=None,
    )
    p = beam.Pipeline()
    build(p, cfg, plan)
    translator = dask_runner.translate(p, "bench", partitions)
    return len(translator.graph), len(translator.metrics_keys)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=2000, help="no-op tasks for (3)")
    args = parser.parse_args()

    pages = load_pages()
    print(
        f"machine: {os.cpu_count()} cores; {len(pages)} distinct pages; N={args.n} over "
        f"{args.hosts} hosts, {args.latency * 1000:.0f} ms latency, {args.concurrency} in flight"
    )
    runs = {}
    with Site(args.n, args.hosts, args.latency, pages) as site:
        for name, beam_args in (
            ("direct --workers 2", ["--workers", "2"]),
            ("dask local:2", ["--runner", "dask", "--dask-scheduler", "local:2"]),
        ):
            run = pipeline_run(site, args.concurrency, args.per_host, beam_args)
            runs[name] = run
            rate = run["written"] / run["wall"]
            span = run["last_page"] - run["first_page"]
            print(
                f"({len(runs)}) {name:20s} {run['wall']:6.1f} s, {run['written']} articles, "
                f"{rate:5.1f} articles/s; pages {run['first_page']:.1f}-{run['last_page']:.1f} s "
                f"({run['written'] / span:.1f} articles/s between the first and the last page); "
                f"CPU {run['cpu']:.0f} s; peak RSS {run['peak_rss'] / 2**20:.0f} MB"
            )
        tasks, bundles = graph_size(site, 2)
    direct, dask = runs["direct --workers 2"], runs["dask local:2"]
    speed = dask["written"] / dask["wall"] / (direct["written"] / direct["wall"])
    print(
        f"dask / direct: {speed:.2f} x "
        f"the articles/s, {dask['cpu'] / direct['cpu']:.2f} x the CPU, "
        f"{dask['peak_rss'] / direct['peak_rss']:.2f} x the peak RSS"
    )
    started, independent, chained = scheduler_overhead(args.tasks)
    print(
        f"(3) LocalCluster of 2 workers: started in {started:.1f} s; {independent:.2f} ms per "
        f"independent no-op task ({args.tasks}), {chained:.2f} ms per task of a chain"
    )
    print(
        f"    newsbeam's graph at 2 partitions: {tasks} tasks ({bundles} bundles) -> "
        f"~{tasks * independent / 1000:.2f} s of scheduling per run at the independent rate, "
        f"{tasks * chained / 1000:.2f} s if every task waited on the one before"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
