#!/usr/bin/env bash
# Issue #38 point 1, measured as the issue states it: CPU per delivery over 1,000,000 deliveries, counted by `perf stat`
# for the whole process (the receiver included, as it shares the cores), beside the bare loop measured in the same run.
# Passes alternate bare, in-memory, SQLite, so a change of the VM's speed during the run shows in every column.
#
#   bash tests/Conductor.Sdk.DeliveryBenchmarks/cpu-budget.sh          # PASSES=2, 10 rounds of 100,000 each
#   PASSES=3 N=50000 bash tests/Conductor.Sdk.DeliveryBenchmarks/cpu-budget.sh
#
# Each process runs 10 rounds of N (the stores: 2 warm-up rounds and 8 measured, all counted), so the figures include
# start-up and warm-up, the same for every path. Needs perf (apt-get install -y linux-perf).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
passes=${PASSES:-2}
n=${N:-100000}
dotnet build -c Release "$root/tests/Conductor.Sdk.DeliveryBenchmarks" -nologo -v q >/dev/null
dll="$root/tests/Conductor.Sdk.DeliveryBenchmarks/bin/Release/net10.0/Conductor.Sdk.DeliveryBenchmarks.dll"
events=task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fsync
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# run PASS PATH ARGS...: one process under perf stat; appends "pass path task-clock-ms context-switches futex pwrite fsync"
run() {
  local pass=$1 path=$2; shift 2
  local stat
  stat=$( { perf stat -x, -e "$events" -- dotnet "$dll" "$@" >/dev/null; } 2>&1 )
  echo "$stat" | awk -F, -v pass="$pass" -v path="$path" '
    $3 == "task-clock" {cpu = $1} $3 == "context-switches" {cs = $1} $3 ~ /futex/ {fx = $1} $3 ~ /pwrite64/ {pw = $1} $3 ~ /fsync/ {fs = $1}
    END {print pass, path, cpu, cs, fx, pw, fs}' >> "$out"
}
for pass in $(seq 1 "$passes"); do
  run "$pass" bare "$n" 64 10 --only-bare
  run "$pass" in-memory "$n" 64 8 --durable --no-postgresql --no-sqlite --with-memory --only-stores --warmup 2
  run "$pass" SQLite "$n" 64 8 --durable --no-postgresql --only-stores --warmup 2
  echo "pass $pass done" >&2
done
deliveries=$((n * 10))
echo "CPU per delivery (perf stat task-clock of the whole process), $deliveries deliveries per process, $passes passes"
echo "| pass | path | CPU per delivery | × bare (same pass) | context switches per delivery | futex per delivery | pwrite per delivery | fsync per delivery |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
awk -v d="$deliveries" '
  {cpu[$1, $2] = $3; row[NR] = $0}
  END {
    for (i = 1; i <= NR; i++) {
      split(row[i], f, " ")
      printf "| %s | %s | %.1f µs | %.2f | %.2f | %.2f | %.2f | %.3f |\n", f[1], f[2], f[3] * 1000 / d, f[3] / cpu[f[1], "bare"], f[4] / d, f[5] / d, f[6] / d, f[7] / d
    }
  }' "$out"
echo "issue #38 point 1: default SQLite path <= 1.4 x bare (85 us at the issue's 61 us); in-memory pipeline <= 75 us (1.23 x the issue's bare)"
