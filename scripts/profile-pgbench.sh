#!/usr/bin/env bash
# Profiles Sextant under pgbench: starts three `sextant start` processes (one region, three
# zones, stores on disk), loads `kv (k INT8 PRIMARY KEY, v TEXT)` with 10,000 rows, then runs
# one pgbench workload against node 1 (the leaseholder once the leases settle) while `perf`
# samples every sextant process on CPU (cpu-clock with DWARF call graphs, FREQ Hz, 999 by
# default) and, with OFFCPU=1, off CPU (sched_switch: where threads block).
#
#   scripts/profile-pgbench.sh BINARY OUT [insert|select] [CLIENTS] [SECONDS]
#
# OUT gets pgbench's output, perf.data files, `perf report` summaries (on-cpu.txt,
# off-cpu.txt) and the nodes' logs.
set -euo pipefail

bin=$(realpath "${1:?binary}")
out=${2:?output directory}
workload=${3:-insert}
clients=${4:-8}
seconds=${5:-15}
mkdir -p "$out"
out=$(realpath "$out")
dir=$(mktemp -d /tmp/sextant-profile-XXXXXX)
# Nine free ports: rpc, http and sql for each node.
read -r -a port < <(python3 -c 'import socket
ss=[socket.socket() for _ in range(9)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    cp "$dir"/n*.log "$out/" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

join="127.0.0.1:${port[0]},127.0.0.1:${port[1]},127.0.0.1:${port[2]}"
for i in 0 1 2; do
    az=$(echo a b c | cut -d' ' -f$((i + 1)))
    "$bin" start --insecure --store="$dir/n$i" --listen-addr="127.0.0.1:${port[i]}" \
        --http-addr="127.0.0.1:${port[3 + i]}" --sql-addr="127.0.0.1:${port[6 + i]}" \
        --join="$join" --locality="region=us-east1,az=$az" >"$dir/n$i.log" 2>&1 &
    pids+=($!)
done

wait_for() { # what, deadline seconds, command...
    local what=$1 limit=$2
    shift 2
    local until=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > until)); then
            echo "timed out waiting for $what" >&2
            exit 1
        fi
        sleep 0.2
    done
}
wait_for "node 1's HTTP" 60 curl -sf "http://127.0.0.1:${port[3]}/health"
"$bin" init --insecure --host="127.0.0.1:${port[0]}"
for i in 0 1 2; do
    wait_for "node $((i + 1)) ready" 90 curl -sf "http://127.0.0.1:${port[3 + i]}/health?ready=1"
done

url="postgresql://root@127.0.0.1:${port[6]}/defaultdb?sslmode=disable"
psql -q "$url" -c "CREATE TABLE kv (k INT8 PRIMARY KEY, v TEXT NOT NULL)"
psql -q "$url" -c "INSERT INTO kv SELECT g, repeat('x', 80) FROM generate_series(1, 10000) AS g"

# Every range on three voters.
replicated() {
    curl -sf "http://127.0.0.1:${port[3]}/_status/ranges" |
        python3 -c 'import json,sys
d=json.load(sys.stdin); r=d if isinstance(d,list) else d.get("ranges",[])
sys.exit(0 if r and all(len(x.get("voters",[]))==3 for x in r) else 1)'
}
wait_for "three voters everywhere" 120 replicated

script="$dir/script.sql"
case $workload in
insert)
    printf '\\set k random(1000000000, 9000000000000000000)\nINSERT INTO kv (k, v) VALUES (:k, '"'%s'"')\n' \
        "$(printf 'y%.0s' $(seq 80))" >"$script"
    ;;
select)
    printf '\\set k random(1, 10000)\nSELECT v FROM kv WHERE k = :k\n' >"$script"
    ;;
*)
    echo "unknown workload $workload" >&2
    exit 1
    ;;
esac

# Warm up, then measure with perf attached to every node.
pgbench -n -f "$script" -c "$clients" -j 2 -T 3 -M prepared "$url" >/dev/null 2>&1 || true
pidlist=$(IFS=,; echo "${pids[*]}")
perf record -e cpu-clock -F "${FREQ:-999}" --call-graph dwarf,32768 -p "$pidlist" -o "$out/on-cpu.data" \
    -- sleep "$seconds" 2>"$out/perf-on.err" &
perfpid=$!
pgbench -n -f "$script" -c "$clients" -j 2 -T "$seconds" -M prepared "$url" | tee "$out/pgbench-on.txt"
wait "$perfpid" || true
if [ "${OFFCPU:-0}" = 1 ]; then
    perf record -e sched:sched_switch --call-graph dwarf,16384 -p "$pidlist" -o "$out/off-cpu.data" \
        -- sleep "$seconds" 2>"$out/perf-off.err" &
    perfpid=$!
    pgbench -n -f "$script" -c "$clients" -j 2 -T "$seconds" -M prepared "$url" | tee "$out/pgbench-off.txt"
    wait "$perfpid" || true
fi

perf report -i "$out/on-cpu.data" --no-children --sort comm,symbol --stdio -g none \
    --percent-limit 0.5 2>/dev/null >"$out/on-cpu.txt" || true
perf report -i "$out/on-cpu.data" --children --sort symbol --stdio -g none \
    --percent-limit 2 2>/dev/null >"$out/on-cpu-inclusive.txt" || true
[ "${OFFCPU:-0}" = 1 ] && perf report -i "$out/off-cpu.data" --no-children --sort comm --stdio -g caller,0.5,callee \
    --percent-limit 2 2>/dev/null >"$out/off-cpu.txt" || true
echo "profiles in $out"
