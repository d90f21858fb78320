#!/usr/bin/env bash
# Whole-process solver figures: `bundle --catalog DIR solve --profile all` on synthetic catalogs written by
# examples/synthetic_catalog.rs (the same generator as the criterion bench, benches/support/synthetic.rs).
#
#   benches/solve.sh [SIZES]          SIZES: "N×M[:sat|unsat][:lower|any|planted] …", default below
#   BEFORE=/path/to/older/bundle      also times an older binary, alternating, in the same run
# Each solve figure is "wall/user" seconds (the median run by wall time; user = the process's own CPU time).
#   RUNS=3                            runs per case and binary (the median is printed)
#   TIMEOUT=120                       seconds before a run is stopped (printed as "> TIMEOUT s")
#
# Needs `cargo build --release` (done here). Catalogs go to a temporary directory, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${1:-"100x20 200x50 500x50 1000x50 500x50:unsat 1000x50:unsat 500x50:sat:any 500x50:sat:planted 1000x50:sat:planted"}
runs=${RUNS:-3}
timeout_s=${TIMEOUT:-120}
cargo build --release --quiet --bin bundle --example synthetic_catalog
new=target/release/bundle
writer=target/release/examples/synthetic_catalog
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# one timed run: prints "WALL/USER" seconds, or ">TIMEOUT"; the exit status must be 0 (sat) or the solve failure
# code (unsat)
time_one() {
  local bin=$1 dir=$2 want=$3 rc=0
  # `solve -o FILE` keeps the versions of an existing FILE (minimal change against a lock): every run
  # starts without one, or a run would time the previous run's answer being kept
  rm -f "$tmp/out.lock"
  /usr/bin/time -f "%e/%U" -o "$tmp/time" timeout "$timeout_s" "$bin" --catalog "$dir" solve --profile all \
    -o "$tmp/out.lock" >/dev/null 2>"$tmp/err" || rc=$?
  if [ "$rc" = 124 ]; then echo ">$timeout_s"; return; fi
  if [ "$want" = sat ] && [ "$rc" != 0 ]; then echo "error (exit $rc): $(head -3 "$tmp/err")" >&2; echo fail; return; fi
  if [ "$want" = unsat ] && { [ "$rc" = 0 ] || ! grep -q "c0000" "$tmp/err"; }; then
    echo "unsat case not explained (exit $rc)" >&2; echo fail; return
  fi
  tail -1 "$tmp/time"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# loading alone (parse + validate the catalog directory): `catalog list`
time_load() {
  local start end
  start=$(date +%s.%N)
  "$new" --catalog "$1" catalog list >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
printf '%-26s %10s %12s %12s\n' case "load only" new "${BEFORE:+before}"
for spec in $sizes; do
  IFS=: read -r size want shape <<<"$spec"
  want=${want:-sat}; shape=${shape:-lower}
  n=${size%x*}; m=${size#*x}
  dir="$tmp/$n-$m-$want-$shape"
  "$writer" "$n" "$m" "$want" "$shape" "$dir"
  a=(); b=(); l=()
  for _ in $(seq "$runs"); do
    l+=("$(time_load "$dir")")
    a+=("$(time_one "$new" "$dir" "$want")")
    if [ -n "${BEFORE:-}" ]; then b+=("$(time_one "$BEFORE" "$dir" "$want")"); fi
  done
  ma=$(printf '%s\n' "${a[@]}" | median)
  mb=""
  if [ -n "${BEFORE:-}" ]; then mb=$(printf '%s\n' "${b[@]}" | median); fi
  ml=$(printf '%s\n' "${l[@]}" | median)
  printf '%-26s %10s %12s %12s\n' "$n×$m $want $shape" "${ml}s" "${ma}s" "${mb:+${mb}s}"
  rm -rf "$dir"
done
