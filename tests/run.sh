#!/usr/bin/env bash
# Runs every test of the solution (the README's test command; .ci/run calls it too).
# The PostgreSQL store tests start a throwaway cluster from the Debian binaries: install them when missing (and
# Chromium, below, for the dashboard's browser tests).
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
# The dashboard's browser tests drive headless Chromium from the Debian packages through Selenium.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "Chromium or its driver not found: installing the chromium and chromium-driver packages"
  if [ "$(id -u)" = 0 ]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
  else
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
  fi
fi
dotnet test Conductor.Sdk.sln "$@"
