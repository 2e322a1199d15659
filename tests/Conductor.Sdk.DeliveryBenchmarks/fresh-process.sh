#!/usr/bin/env bash
# Issue #38 point 3, measured as the issue states it: a fresh process per round (so each path runs as a new user's
# first round would: cold JIT, new host, new database), N deliveries, 64 callers, the same loopback receiver, and the
# median over RUNS processes of each path's deliveries/s and its ratio to the bare loop of the same process.
#
#   bash tests/Conductor.Sdk.DeliveryBenchmarks/fresh-process.sh            # RUNS=5, N=30000
#   RUNS=3 N=20000 bash tests/Conductor.Sdk.DeliveryBenchmarks/fresh-process.sh
#   SEPARATE=1 bash tests/Conductor.Sdk.DeliveryBenchmarks/fresh-process.sh # each path in a process of its own
#
# By default one process runs the bare loop, then SQLite, PostgreSQL and the in-memory store: the first store round
# pays the JIT of Conductor.Sdk's code, the later ones find it compiled. With SEPARATE=1 every path runs in a process of
# its own (run i's ratios are against run i's bare process, started just before), so each pays its own JIT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${RUNS:-5}
n=${N:-30000}
dotnet build -c Release "$root/tests/Conductor.Sdk.DeliveryBenchmarks" -nologo -v q >/dev/null
dll="$root/tests/Conductor.Sdk.DeliveryBenchmarks/bin/Release/net10.0/Conductor.Sdk.DeliveryBenchmarks.dll"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rows() {
  awk -v run="$1" -F'|' '
    /^\| bare signed/ {print run, "bare", $3, $4}
    /^\| Notify → default SQLite/ {print run, "SQLite", $3, $4}
    /^\| Notify → PostgreSQL/ {print run, "PostgreSQL", $3, $4}
    /^\| Notify → in-memory/ {print run, "in-memory", $3, $4}' | tr -d ','
}
for i in $(seq 1 "$runs"); do
  if [ -z "${SEPARATE:-}" ]; then
    # One process: a round of the bare loop, then one of each store, each store in a host of its own; no warm-up.
    dotnet "$dll" "$n" 64 1 --durable --warmup 0 --with-memory | rows "$i" >> "$out"
  else
    bare=$(dotnet "$dll" "$n" 64 1 --durable --warmup 0 --no-sqlite --no-postgresql | rows "$i" | awk '$2 == "bare" {print $3}')
    echo "$i bare $bare 1.00" >> "$out"
    for flags in "--no-postgresql" "--no-sqlite" "--no-sqlite --no-postgresql --with-memory"; do
      # --only-stores: no bare round in this process; the ratio is taken against run i's bare process.
      # shellcheck disable=SC2086
      dotnet "$dll" "$n" 64 1 --durable --warmup 0 --only-stores $flags | rows "$i" | awk -v bare="$bare" '$2 != "bare" {printf "%s %s %s %.2f\n", $1, $2, $3, $3 / bare}' >> "$out"
    done
  fi
  echo "run $i done" >&2
done
mode="one process per run"
[ -n "${SEPARATE:-}" ] && mode="each path in a process of its own"
echo "N = $n deliveries per round, 64 callers, one round per path, $runs runs, $mode"
echo "| path | deliveries/s per process | median | × bare per process | median × bare |"
echo "|---|---|---:|---|---:|"
for path in bare SQLite PostgreSQL in-memory; do
  awk -v p="$path" '$2 == p {printf "%s %s\n", $3, $4}' "$out" | python3 -c '
import sys, statistics
rows = [line.split() for line in sys.stdin if line.strip()]
rates = [float(r[0]) for r in rows]; ratios = [float(r[1]) for r in rows]
print("| %s | %s | %s | %s | %.2f |" % (sys.argv[1], " ".join("{:,.0f}".format(x) for x in rates), "{:,.0f}".format(statistics.median(rates)),
      " ".join("%.2f" % x for x in ratios), statistics.median(ratios)))' "$path"
done
