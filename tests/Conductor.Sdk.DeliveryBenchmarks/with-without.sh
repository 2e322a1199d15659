#!/usr/bin/env bash
# Each mechanism of the delivery hot path, measured with and without it (issue #38 point 6). Not a test: it builds the
# benchmark harness from HEAD and from copies of HEAD with one mechanism taken out, runs them alternating with the same
# arguments, and prints every path's deliveries/s, ratio to the same run's bare loop and CPU per delivery, per pass
# and as medians.
#
#   bash tests/Conductor.Sdk.DeliveryBenchmarks/with-without.sh                      # 4 passes, -- 20000 64 3 --durable --warmup 1 --with-memory
#   PASSES=2 bash tests/Conductor.Sdk.DeliveryBenchmarks/with-without.sh 60000 64 1 --durable --warmup 1 --slow-receiver 20
#   VARIANTS="main no-quiet" bash tests/Conductor.Sdk.DeliveryBenchmarks/with-without.sh
#   VARIANTS="main at-d49de2c" bash ...   # HEAD against an earlier commit (at-<commit>: that commit as it is)
#
# The variants (each edit is checked to apply; the script stops if the code it edits has changed):
#   no-handoff   TryReserve refuses at once: every Notify stores its rows unleased and the worker leases them.
#   no-wait      a Notify refused only because of a backlog flag is not held for the worker's next look.
#   no-quiet     QuietLocked is always false: the worker queries whenever it is woken or its timer fires.
#   no-wake-skip Notify always wakes the worker after storing unleased rows, even when every endpoint it stored for
#                has a full queue (DeliveryProcessor.Stored).
#   none         no-handoff, no-quiet and no-wake-skip together.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
passes=${PASSES:-4}
variants=(${VARIANTS:-main no-handoff no-wait no-quiet no-wake-skip none})
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(20000 64 3 --durable --warmup 1 --with-memory)
work=$(mktemp -d /tmp/conductor-with-without-XXXXXX)
cleanup() {
  for v in "${variants[@]}"; do git -C "$root" worktree remove --force "$work/$v" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# edit FILE OLD NEW: replaces the one occurrence of OLD (a literal) in FILE, or fails.
edit() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"with-without.sh: the code to edit is not in {path} exactly once:\n{old}")
open(path, "w").write(text.replace(old, new))
PY
}

handoff=src/Conductor.Sdk/Delivery/DeliveryProcessor.Handoff.cs
without() {
  local dir=$1 what=$2
  case "$what" in
    handoff) edit "$dir/$handoff" $'        nextLease = null;\n        lock (_gate)' $'        nextLease = null;\n        if (nextLease is null) return null;\n        lock (_gate)' ;;
    wait) edit "$dir/$handoff" $'            nextLease = (_reserveWaiters ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;\n' '' ;;
    quiet) edit "$dir/$handoff" $'        var generation = _signal.Generation;\n        if (generation != _knownGeneration' $'        var generation = _signal.Generation;\n        if (generation == generation) return false;\n        if (generation != _knownGeneration' ;;
    wake-skip) edit "$dir/$handoff" $'            var wake = records.Length == 0;' $'            var wake = true;' ;;
  esac
}

for v in "${variants[@]}"; do
  commit=HEAD; [[ "$v" == at-* ]] && commit=${v#at-}
  git -C "$root" worktree add --detach "$work/$v" "$commit" >/dev/null
  case "$v" in
    main|at-*) ;;
    none) without "$work/$v" handoff; without "$work/$v" quiet; without "$work/$v" wake-skip ;;
    no-*) without "$work/$v" "${v#no-}" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  dotnet build -c Release "$work/$v/tests/Conductor.Sdk.DeliveryBenchmarks" -nologo -v q -p:TreatWarningsAsErrors=false >/dev/null
  echo "built $v"
done

out="$work/results.txt"
for pass in $(seq 1 "$passes"); do
  for v in "${variants[@]}"; do
    echo "=== $v" >> "$out"
    (cd "$work/$v/tests/Conductor.Sdk.DeliveryBenchmarks/bin/Release/net10.0" &&
      dotnet Conductor.Sdk.DeliveryBenchmarks.dll "${args[@]}" 2>&1 | grep -E '^\| (bare|Notify)' | tee -a "$out" | sed "s/^/pass $pass $v /")
  done
done

echo
echo "arguments: ${args[*]}; $passes passes, alternating"
python3 - "$out" <<'PY'
import re, statistics, sys
runs, variant = {}, None
for line in open(sys.argv[1]):
    if line.startswith("=== "):
        variant = line[4:].strip()
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    name = cells[0]
    path = "bare" if name.startswith("bare") else "SQLite" if "SQLite" in name else "PostgreSQL" if "PostgreSQL" in name else "in-memory"
    calls = float(cells[6].replace(",", "")) if cells[6] != "-" else float("nan")
    runs.setdefault(path, {}).setdefault(variant, []).append(
        (float(cells[1].replace(",", "")), float(cells[2]), float(cells[5].split()[0]), calls))
print("| path | variant | deliveries/s, median | × bare, per pass | × bare, median | CPU µs per delivery, per pass | CPU, median | Notify calls/s, median |")
print("|---|---|---:|---|---:|---|---:|---:|")
for path, by_variant in runs.items():
    for variant, rows in by_variant.items():
        med = lambda i: statistics.median(r[i] for r in rows)
        calls = "-" if path == "bare" else f"{med(3):,.0f}"
        print(f"| {path} | {variant} | {med(0):,.0f} | {' '.join(f'{r[1]:.2f}' for r in rows)} | {med(1):.2f} | "
              f"{' '.join(f'{r[2]:.0f}' for r in rows)} | {med(2):.1f} | {calls} |")
PY
