"""The numba engine's scaling table (docs/performance.md, "Scaling"): sampled answers per
second against runs R, answers K, group size G and prompts S around workload W1
(simrl/bench.py), the fixed cost of one call, and each call's peak memory and page
faults.

Every point runs in a fresh process (`--point`), so its peak resident memory
(`ru_maxrss`) and minor page faults (`ru_minflt`) are that call's and not a previous
point's: numba allocates outside Python's allocator, so tracemalloc sees none of it. The
process first makes a 1-run, 2-step call of the same shapes (numba's cache load and the
first touch of the code), then measures: the call's wall time (best of --repeats), the
page faults of the first measured call, and the process's peak RSS before and after it.

    NUMBA_NUM_THREADS=2 PYTHONPATH=$PWD python3 scripts/scaling.py            # the table
    NUMBA_NUM_THREADS=2 PYTHONPATH=$PWD python3 scripts/scaling.py --quick    # fewer points
    PYTHONPATH=$PWD python3 scripts/scaling.py --only K --sizes 4096 --runs 256 --steps 5

The host (CPU model, cores, numba's threads, the load average before and after) is printed
beside the numbers: on a host whose load exceeds its cores every rate reads low.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def measure(point: dict) -> dict:
    """One point in this process: a warm-up call, then `repeats` timed calls."""
    import resource

    from simrl.bench import W1
    from simrl.config import Config
    from simrl.engine.batch import RunSpec, run_batch

    over = {"run.steps": point["steps"], "run.seeds": point["R"]}
    over["task.num_answers"] = point["K"]
    over["task.num_prompts"] = point["S"]
    over["algo.group_size"] = point["G"]
    config = Config.from_dict(W1, over)
    specs = [RunSpec(config, i) for i in range(point["R"])]
    warm = Config.from_dict(W1, {**over, "run.steps": 2, "run.seeds": 1})
    run_batch([RunSpec(warm, 0)])
    before = resource.getrusage(resource.RUSAGE_SELF)
    times, faults = [], None
    for _ in range(point["repeats"]):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        run_batch(specs)
        times.append(time.perf_counter() - t0)
        if faults is None:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    after = resource.getrusage(resource.RUSAGE_SELF)
    answers = point["R"] * point["steps"] * config.prompts_per_step * point["G"]
    best = min(times)
    return {
        **point,
        "seconds": best,
        "answers_per_s": answers / best,
        "minflt": faults,
        "rss_before_mb": before.ru_maxrss / 1024,  # Linux: KiB
        "rss_peak_mb": after.ru_maxrss / 1024,
    }


def run_point(point: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--point", json.dumps(point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"point {point} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


BASE = {"R": 64, "K": 16, "S": 64, "G": 8, "steps": 200, "repeats": 3}


def sweeps(quick: bool) -> dict[str, list[dict]]:
    """The points of each sweep: one knob varied around W1 (R 64, S 64, K 16, G 8)."""

    def steps_for(work: float) -> int:
        # about `work` run-steps-answers per point, 5..200 steps
        return int(max(5, min(200, work)))

    Rs = [1, 4, 16, 64, 256, 1024, 4096] if not quick else [1, 16, 256, 4096]
    Ks = [2, 16, 64, 256, 1024, 4096] if not quick else [2, 16, 256, 4096]
    Gs = [2, 4, 8, 16, 64] if not quick else [2, 8, 64]
    Ss = [8, 64, 512, 4096] if not quick else [8, 64, 1024]
    return {
        "R": [{**BASE, "R": r, "steps": 200 if r <= 256 else 50} for r in Rs],
        "K": [{**BASE, "K": k, "steps": steps_for(200 * 16 / k)} for k in Ks],
        "G": [{**BASE, "G": g, "steps": steps_for(200 * 8 / g)} for g in Gs],
        "S": [{**BASE, "S": s, "steps": steps_for(200 * 64 / s)} for s in Ss],
        "call": [{**BASE, "R": 1, "steps": 1, "repeats": 20}],
    }


def host() -> str:
    from simrl.bench import host_line

    return host_line()


def fmt_row(p: dict) -> str:
    return (
        f"| {p['R']} | {p['S']} | {p['K']} | {p['G']} | {p['steps']} | {p['seconds']:.4f} "
        f"| {p['answers_per_s']:.3g} | {p['minflt']} | {p['rss_peak_mb']:.0f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--point", help="measure one point (JSON) in this process")
    ap.add_argument("--quick", action="store_true", help="fewer points")
    ap.add_argument("--only", help="one sweep: R, K, G, S or call")
    ap.add_argument("--sizes", help="comma-separated values of that sweep's knob")
    ap.add_argument("--runs", type=int, help="override R of every point")
    ap.add_argument("--steps", type=int, help="override the steps of every point")
    ap.add_argument("--repeats", type=int, help="override the repeats of every point")
    ap.add_argument("--json", help="also write every point to this file")
    args = ap.parse_args()
    if args.point:
        print(json.dumps(measure(json.loads(args.point))))
        return
    table = sweeps(args.quick)
    if args.only:
        table = {args.only: table[args.only]}
        if args.sizes:
            base = table[args.only][0]
            table[args.only] = [{**base, args.only: int(v)} for v in args.sizes.split(",")]
    for points in table.values():
        for p in points:
            if args.runs:
                p["R"] = args.runs
            if args.steps:
                p["steps"] = args.steps
            if args.repeats:
                p["repeats"] = args.repeats
    print(host())
    print(f"start {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    print("| R | S | K | G | steps | call s | answers/s | page faults | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    done = []
    for name, points in table.items():
        for p in points:
            res = run_point(p)
            res["sweep"] = name
            done.append(res)
            print(fmt_row(res), f"<- {name}", flush=True)
    print(host())
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"host": host(), "points": done}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
