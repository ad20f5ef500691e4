#!/usr/bin/env python3
"""Runs `sextant demo --global --nodes 9` N times in a row and records each run.

Each run starts the demo serving (no -e), times it until it prints its connection string
(movr loaded: "ready"), then checks what a user would: `SELECT count(*) FROM
movr.vehicle_location_histories` through psql answers 1000, and, once up-replication has
settled (the range layout stops changing, up to --settle seconds), no range has two voters
in one region while another region holds none of its replicas. Prints one Markdown table row
per run and a summary (succeeded, median and max ready time).

    scripts/demo-runs.py --binary target/release/sextant --runs 20
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def region_of(locality):
    m = re.search(r"region=([^,]+)", locality or "")
    return m.group(1) if m else ""


def placement_problems(http):
    nodes = get_json(f"http://{http}/_status/nodes")
    nodes = nodes.get("nodes", nodes) if isinstance(nodes, dict) else nodes
    region = {}
    for n in nodes:
        nid = n.get("node_id", n.get("id"))
        region[nid] = region_of(n.get("locality", ""))
    regions = set(region.values())
    ranges = get_json(f"http://{http}/_status/ranges")
    ranges = ranges.get("ranges", ranges) if isinstance(ranges, dict) else ranges
    problems = []
    for r in ranges:
        voters = r.get("voters", [])
        non_voters = r.get("non_voters", [])
        per = {}
        for v in voters:
            per[region.get(v)] = per.get(region.get(v), 0) + 1
        held = {region.get(n) for n in voters + non_voters}
        if any(c >= 2 for c in per.values()) and regions - held:
            problems.append(f"r{r.get('range_id')}: voters {voters} non-voters {non_voters}")
    return problems, json.dumps(sorted((r.get("range_id"), r.get("voters"), r.get("non_voters")) for r in ranges))


def one_run(binary, settle):
    work = tempfile.mkdtemp(prefix="demo-run-")
    out = open(os.path.join(work, "stdout"), "w+")
    err = open(os.path.join(work, "stderr"), "w+")
    started = time.monotonic()
    env = dict(os.environ)
    # Logs of the replicate queue and the DistSender's retries, kept with a failed run.
    env.setdefault(
        "RUST_LOG", "warn,sextant=info,sextant_kv=info,sextant_kv::node=debug,sextant_kv::dist_sender=debug,sextant_sql=info"
    )
    p = subprocess.Popen(
        [binary, "demo", "--global", "--nodes", "9", "--sql-port", "0", "--http-port", "0"],
        cwd=work, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
        start_new_session=True, env=env,
    )
    url = http = None
    ready = None
    try:
        deadline = started + 180
        while time.monotonic() < deadline and p.poll() is None:
            out.seek(0)
            text = out.read()
            m = re.search(r"Connection string: (\S+)", text)
            if m:
                ready = time.monotonic() - started
                url = m.group(1)
                h = re.search(r"node 1: http://([^/]+)/", text)
                http = h.group(1) if h else None
                break
            time.sleep(0.1)
        if ready is None:
            err.seek(0)
            tail = [l for l in err.read().strip().splitlines() if "ERROR: " in l][-1:]
            return None, "not ready: " + " | ".join(tail)[-300:] + f" (logs in {work})", work
        q = subprocess.run(
            ["psql", url, "-tA", "-c", "SELECT count(*) FROM movr.vehicle_location_histories"],
            capture_output=True, text=True, timeout=60,
        )
        if q.returncode != 0 or q.stdout.strip() != "1000":
            return ready, f"count: {q.stdout.strip()} {q.stderr.strip()[-200:]}", work
        if http is None:
            return ready, "no HTTP address printed", work
        last, stable_since, problems = None, time.monotonic(), []
        end = time.monotonic() + settle
        while time.monotonic() < end:
            problems, layout = placement_problems(http)
            if layout != last:
                last, stable_since = layout, time.monotonic()
            elif time.monotonic() - stable_since > 5:
                break
            time.sleep(0.5)
        if problems:
            return ready, "placement: " + "; ".join(problems[:3]), work
        return ready, "ok", work
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, None)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/sextant")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--settle", type=float, default=60)
    a = ap.parse_args()
    a.binary = os.path.abspath(a.binary)
    times, ok = [], 0
    print("| run | ready (s) | outcome |")
    print("|---|---|---|")
    for i in range(1, a.runs + 1):
        ready, outcome, work = one_run(a.binary, a.settle)
        if outcome == "ok":
            ok += 1
            subprocess.run(["rm", "-rf", work])
        if ready is not None:
            times.append(ready)
        shown = f"{ready:.1f}" if ready is not None else "-"
        print(f"| {i} | {shown} | {outcome} |", flush=True)
    if times:
        print(f"\n{ok} of {a.runs} succeeded; ready median {statistics.median(times):.1f} s, "
              f"min {min(times):.1f} s, max {max(times):.1f} s")
    sys.exit(0 if ok == a.runs else 1)


if __name__ == "__main__":
    main()
