#!/usr/bin/env bash
# Runs every test of the solution (the README's test command; .ci/run calls it too).
# The PostgreSQL store tests start a throwaway cluster from the Debian binaries: install them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "PostgreSQL binaries not found: installing the postgresql package"
  if [ "$(id -u)" = 0 ]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
  else
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
  fi
fi
dotnet test Conductor.Sdk.sln "$@"
