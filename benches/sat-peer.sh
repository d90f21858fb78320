#!/usr/bin/env bash
# The solver against a peer: CaDiCaL (a state-of-the-art SAT solver, Debian package `cadical`) on the same synthetic
# catalogs, in the same run. Each catalog is written twice by examples/synthetic_catalog.rs: as a catalog directory
# for `bundle --catalog DIR solve --profile all` and as CNF (benches/support/cnf.rs: one boolean per version, exactly
# one version per component, one clause per requirement) for `cadical -q`.
#
# The two do not answer the same question: CaDiCaL only says whether ANY platform exists (and gives one); `bundle`
# answers the policy's question (newest Kubernetes, then each component newest first, in name order), which is many
# satisfiability questions. The ratio says how hard a catalog is for a general solver compared with our whole answer.
#
#   benches/sat-peer.sh [SIZES]     SIZES: "N×M[:sat|unsat][:lower|any|planted] …", default below
#   TIMEOUT=60                      seconds before a run is stopped (printed as ">TIMEOUT")
# Figures are wall seconds of the whole process, one run each (noisy machine: compare within one run).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${1:-"200x30:sat:lower 500x50:sat:lower 1000x50:sat:lower 500x50:sat:planted 1000x50:sat:planted 100x30:sat:any 200x30:sat:any 500x50:unsat:lower"}
timeout_s=${TIMEOUT:-60}
command -v cadical >/dev/null || { echo "needs cadical (apt-get install cadical)" >&2; exit 2; }
cargo build --release --quiet --bin bundle --example synthetic_catalog
bin=target/release/bundle
writer=target/release/examples/synthetic_catalog
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# wall seconds of one command, ">TIMEOUT" when stopped; $expect: the exit codes that count as an answer
timed() {
  local expect=$1 rc=0 start end; shift
  start=$(date +%s.%N)
  timeout "$timeout_s" "$@" >/dev/null 2>&1 || rc=$?
  end=$(date +%s.%N)
  if [ "$rc" = 124 ]; then echo ">$timeout_s"; return; fi
  case " $expect " in *" $rc "*) ;; *) echo "exit-$rc"; return;; esac
  printf '%.2f' "$(echo "$end - $start" | bc)"
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), $(cadical --version 2>&1 | head -1)"
printf '%-24s %14s %18s %10s\n' case "bundle solve" "cadical (any)" "ratio"
for spec in $sizes; do
  IFS=: read -r size want shape <<<"$spec"
  want=${want:-sat}; shape=${shape:-lower}
  n=${size%x*}; m=${size#*x}
  dir="$tmp/$n-$m-$want-$shape"
  "$writer" "$n" "$m" "$want" "$shape" "$dir" "$dir.cnf"
  rm -f "$tmp/out.lock"
  # bundle: 0 = solved, 1 = nothing fits (explained)
  if [ "$want" = sat ]; then codes=0; else codes=1; fi
  ours=$(timed "$codes" "$bin" --catalog "$dir" solve --profile all -o "$tmp/out.lock")
  # cadical: 10 = satisfiable, 20 = unsatisfiable
  peer=$(timed "10 20" cadical -q "$dir.cnf")
  ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { if (a+0 > 0 && b+0 > 0 && a !~ />/ && b !~ />/) printf "%.1f×", b / a; else print "—" }')
  printf '%-24s %13ss %17ss %10s\n' "$n×$m $want $shape" "$ours" "$peer" "$ratio"
  rm -rf "$dir" "$dir.cnf"
done
