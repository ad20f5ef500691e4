#!/usr/bin/env bash
# Runs every workload of sextant-verify at once under each nemesis, then a long mixed run,
# and prints each verdict. Usage: scripts/verify-runs.sh [OUT_DIR] [SHORT] [LONG]
#   SHORT: duration of each single-nemesis run (default 2m); LONG: the mixed run (default 10m).
# Binaries: $SEXTANT_BIN (default target/release/sextant) and $SEXTANT_VERIFY
# (default target/release/sextant-verify).
set -u
out=${1:-verify-runs}
short=${2:-2m}
long=${3:-10m}
bin=$(realpath "${SEXTANT_BIN:-target/release/sextant}")
verify=$(realpath "${SEXTANT_VERIFY:-target/release/sextant-verify}")
mkdir -p "$out"
status=0
run() {
  local nemesis=$1 time=$2 seed=$3
  local dir="$out/$nemesis-$time"
  local started=$SECONDS
  "$verify" --binary "$bin" --workload all --nemesis "$nemesis" --time "$time" \
    --seed "$seed" --out "$dir" >"$dir.stdout" 2>"$dir.stderr"
  local code=$?
  echo "== $nemesis $time seed $seed: exit $code in $((SECONDS - started)) s"
  cat "$dir.stdout"
  [ "$code" -eq 0 ] || status=1
}
seed=${SEED:-1}
for n in none kill pause partition clock leases; do
  run "$n" "$short" "$seed"
  seed=$((seed + 1))
done
run mixed "$long" "$seed"
exit $status
