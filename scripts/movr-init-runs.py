#!/usr/bin/env python3
"""Runs `sextant workload init movr` N times, each against a fresh six-node, three-region
cluster of separate `sextant start` processes (two nodes per region, stores on disk), and
records each run: the time to start the cluster, the time `workload init` took, and the
outcome (its exit status, then the row counts through psql). Prints one Markdown table row
per run and a summary.

    scripts/movr-init-runs.py --binary target/release/sextant --runs 20
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REGIONS = ["us-east1", "us-west1", "europe-west1"]
EXPECTED = {"users": 50, "vehicles": 15, "rides": 500, "vehicle_location_histories": 1000,
            "promo_codes": 1000}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(http):
    try:
        with urllib.request.urlopen(f"http://{http}/health?ready=1", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def one_run(binary):
    work = tempfile.mkdtemp(prefix="movr-run-")
    nodes = []
    for i in range(6):
        nodes.append({"rpc": f"127.0.0.1:{free_port()}", "http": f"127.0.0.1:{free_port()}",
                      "sql": f"127.0.0.1:{free_port()}",
                      "locality": f"region={REGIONS[i // 2]},az={'ab'[i % 2]}"})
    join = ",".join(n["rpc"] for n in nodes)
    procs = []
    started = time.monotonic()
    try:
        for i, n in enumerate(nodes):
            log = open(os.path.join(work, f"n{i + 1}.log"), "w")
            procs.append(subprocess.Popen(
                [binary, "start", "--insecure", f"--store={os.path.join(work, f'n{i + 1}')}",
                 f"--listen-addr={n['rpc']}", f"--http-addr={n['http']}",
                 f"--sql-addr={n['sql']}", f"--join={join}", f"--locality={n['locality']}"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True))
        # `sextant init` fails at once when nothing listens yet (as documented): wait for the
        # first node's RPC port as a user would.
        host, port = nodes[0]["rpc"].rsplit(":", 1)
        listen_deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > listen_deadline:
                    return None, None, "node 1 not listening in 30 s", work
                time.sleep(0.05)
        init = subprocess.run([binary, "init", "--insecure", f"--host={nodes[0]['rpc']}"],
                              capture_output=True, text=True, timeout=60)
        if init.returncode != 0:
            return None, None, f"init: {init.stderr.strip()[-200:]}", work
        deadline = time.monotonic() + 120
        while not all(ready(n["http"]) for n in nodes):
            if time.monotonic() > deadline:
                return None, None, "nodes not ready in 120 s", work
            time.sleep(0.2)
        up = time.monotonic() - started
        url = f"postgresql://root@{nodes[0]['sql']}/defaultdb?sslmode=disable"
        t0 = time.monotonic()
        w = subprocess.run([binary, "workload", "init", "movr", url],
                           capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t0
        if w.returncode != 0:
            return up, took, f"workload init: {w.stderr.strip()[-300:]}", work
        murl = url.replace("/defaultdb", "/movr")
        for table, n in EXPECTED.items():
            q = subprocess.run(["psql", murl, "-tA", "-c", f"SELECT count(*) FROM {table}"],
                               capture_output=True, text=True, timeout=60)
            if q.stdout.strip() != str(n):
                return up, took, f"{table}: {q.stdout.strip()} {q.stderr.strip()[-200:]}", work
        return up, took, "ok", work
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/sextant")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    ok, times = 0, []
    print("| run | cluster up (s) | workload init (s) | outcome |")
    print("|---|---|---|---|")
    for i in range(1, a.runs + 1):
        up, took, outcome, work = one_run(binary)
        if outcome == "ok":
            ok += 1
            shutil.rmtree(work, ignore_errors=True)
        else:
            outcome += f" (logs in {work})"
        if took is not None:
            times.append(took)
        f = lambda v: f"{v:.1f}" if v is not None else "-"
        print(f"| {i} | {f(up)} | {f(took)} | {outcome} |", flush=True)
    if times:
        print(f"\n{ok} of {a.runs} succeeded; workload init median {statistics.median(times):.1f} s, "
              f"max {max(times):.1f} s")
    sys.exit(0 if ok == a.runs else 1)


if __name__ == "__main__":
    main()
