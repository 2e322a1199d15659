#!/usr/bin/env bash
# Where a durable benchmark run allocates, or where its JIT time goes, from a dotnet-trace recording (issue #38).
#
#   bash tests/Conductor.Sdk.DeliveryBenchmarks/trace-stacks.sh alloc   # SQLite burst: 20000 64 2 --durable --no-postgresql --warmup 1
#   STORE=postgresql bash tests/Conductor.Sdk.DeliveryBenchmarks/trace-stacks.sh alloc   # the same on PostgreSQL (--no-sqlite)
#   PREFIX=Npgsql. STORE=postgresql bash ...trace-stacks.sh alloc   # by the first Npgsql frame instead of Conductor.Sdk's
#   bash tests/Conductor.Sdk.DeliveryBenchmarks/trace-stacks.sh jit     # one fresh process: 30000 64 1 --durable --warmup 0 --with-memory
#
# alloc: the runtime's AllocationTick events (one per ~100 KB, with stacks; `--profile gc-verbose`), as bytes per
# delivery by type and the first Conductor.Sdk frame of the stack. The run has 3 store rounds (1 warm-up) of 20,000.
# jit: the time from each method's JittingStarted to its MethodLoad on the same thread, by assembly family and tier.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-alloc}
export PATH="$PATH:$HOME/.dotnet/tools"
command -v dotnet-trace >/dev/null || dotnet tool install -g dotnet-trace >/dev/null
dotnet build -c Release "$root/tests/Conductor.Sdk.DeliveryBenchmarks" -nologo -v q >/dev/null
dotnet build -c Release "$root/tests/Conductor.Sdk.TraceStacks" -nologo -v q >/dev/null
bench="$root/tests/Conductor.Sdk.DeliveryBenchmarks/bin/Release/net10.0/Conductor.Sdk.DeliveryBenchmarks.dll"
tool="$root/tests/Conductor.Sdk.TraceStacks/bin/Release/net10.0/Conductor.Sdk.TraceStacks.dll"
trace=$(mktemp -d)/run.nettrace
trap 'rm -rf "$(dirname "$trace")"' EXIT
case "$mode" in
  alloc)
    skip=--no-postgresql
    [ "${STORE:-sqlite}" = postgresql ] && skip=--no-sqlite
    dotnet-trace collect --profile gc-verbose -o "$trace" -- dotnet "$bench" 20000 64 2 --durable "$skip" --warmup 1 >/dev/null
    dotnet "$tool" alloc "$trace" 60000 "${TOP:-30}" "${PREFIX:-Conductor.Sdk.}" ;;
  jit)
    dotnet-trace collect --providers "Microsoft-Windows-DotNETRuntime:0x10:5" -o "$trace" -- dotnet "$bench" 30000 64 1 --durable --warmup 0 --with-memory >/dev/null
    dotnet "$tool" jit "$trace" "${TOP:-25}" ;;
  *) echo "usage: trace-stacks.sh alloc|jit" >&2; exit 2 ;;
esac
