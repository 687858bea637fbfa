"""Helpers of the Python benchmarks: timing with medians, interleaved
baselines, table rows for scripts/bench, the import path.

Every benchmark prints its results as rows on stdout in the format of the C
benchmarks (bench/bench.h), which scripts/bench merges into one table:

    ROW <TAB> measurement <TAB> ours <TAB> baseline/target <TAB> ratio <TAB> verdict

and details on stderr.  `--quick` (or RM_BENCH_QUICK=1) shrinks every run.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

QUICK = "--quick" in sys.argv[1:] or os.environ.get("RM_BENCH_QUICK", "0") not in ("", "0")


def args():
    """Positional arguments (without --quick)."""
    return [a for a in sys.argv[1:] if a != "--quick"]


def per_call_ns(fn, n):
    """Mean time of one call over n calls (ns)."""
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n


def interleaved(fns, n, rounds):
    """Runs each of `fns` for n calls per round, alternating them round by
    round (so every variant sees the same machine load); returns the median
    per-call ns of each."""
    runs = [[] for _ in fns]
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            runs[k].append(per_call_ns(fn, n))
    return [statistics.median(r) for r in runs]


def pct(values, q):
    """Nearest-rank quantile (q in percent)."""
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


def row(measurement, ours, baseline="-", ratio="-", verdict="info"):
    for f in (measurement, ours, baseline, ratio, verdict):
        assert "\t" not in f and "\n" not in f
    print(f"ROW\t{measurement}\t{ours}\t{baseline}\t{ratio}\t{verdict}", flush=True)


def verdict_max(ours, target):
    return "meets target" if ours <= target else "MISSES target"


def note(*a):
    print(*a, file=sys.stderr, flush=True)


def cpu_seconds():
    """CPU time of this process (all threads), user + system."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
