#!/usr/bin/env bash
# The PostgreSQL store's floor (issue #18): the server CPU that the rows of one delivery cost, with no client at all.
#
# A throwaway cluster (Debian's binaries, as the tests use) runs the store's row work inside the server, in one DO block:
# per group, the new deliveries are inserted and committed (synchronous_commit on, as the store commits them), then the
# previous group's attempts are inserted and its outcomes updated, and committed. No round trip, no COPY parsing, no
# lease: less than the store itself must do. It prints the server's CPU time (every PostgreSQL process) per delivery.
#
# The schema is the store's current one (schema v5, PostgreSqlDeliveryStore.Migrations); keep the two in step.
#
#     bash postgresql-floor.sh [deliveries=20000] [group=64]
set -euo pipefail
count=${1:-20000}
group=${2:-64}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/conductor-pg-floor-XXXXXX)
run=()
if [ "$(id -u)" = 0 ]; then chown nobody "$work"; run=(runuser -u nobody --); fi
"${run[@]}" "$bin/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 >/dev/null
"${run[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w -o "-p 55439 -k $work -c listen_addresses=''" start >/dev/null
trap '"${run[@]}" "$bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null; rm -rf "$work"' EXIT
psql=("$bin/psql" -h "$work" -p 55439 -U postgres -q -v ON_ERROR_STOP=1)

"${psql[@]}" <<'SQL'
CREATE TABLE conductor_deliveries (id text PRIMARY KEY, ensemble text NOT NULL, event text NOT NULL, notification_key text NOT NULL,
    channel text NOT NULL, endpoint text NOT NULL, payload bytea NOT NULL, created_at bigint NOT NULL, due_at bigint NOT NULL,
    status integer NOT NULL, attempts integer NOT NULL, max_attempts integer NOT NULL, last_status_code integer NULL,
    last_error_kind integer NOT NULL DEFAULT 0, last_error text NULL, leased_until bigint NULL, trace_parent text NULL);
CREATE INDEX conductor_deliveries_created ON conductor_deliveries (created_at);
CREATE INDEX conductor_deliveries_status_created ON conductor_deliveries (status, created_at);
CREATE INDEX conductor_deliveries_ensemble_created ON conductor_deliveries (ensemble, created_at);
CREATE INDEX conductor_deliveries_waiting ON conductor_deliveries (endpoint, due_at, id) WHERE status = 0 AND leased_until IS NULL;
CREATE INDEX conductor_deliveries_waiting_due ON conductor_deliveries (due_at, id) WHERE status = 0 AND leased_until IS NULL;
CREATE INDEX conductor_deliveries_leased ON conductor_deliveries (leased_until) WHERE status = 0 AND leased_until IS NOT NULL;
CREATE TABLE conductor_attempts (delivery_id text NOT NULL, number integer NOT NULL, started_at bigint NOT NULL,
    duration_ticks bigint NOT NULL, outcome integer NOT NULL, status_code integer NULL, error_kind integer NOT NULL,
    error text NULL, next_due_at bigint NULL, PRIMARY KEY (delivery_id, number));
SQL

# $1 first id number, $2 deliveries, $3 group size
rows() {
  cat <<SQL
DO \$\$
DECLARE g bigint;
BEGIN
  FOR g IN 0..($2 / $3 - 1) LOOP
    INSERT INTO conductor_deliveries
      SELECT 'dlv_' || lpad(($1 + g * $3 + i)::text, 26, '0'), 'bench-orders', 'execution.completed', 'bench-orders/notify-shipping#0',
             'webhook', 'http://127.0.0.1:5000/hooks', decode(repeat('7b', 172), 'hex'), 639000000000000000, 639000000000000000,
             0, 0, 6, NULL, 0, NULL, 639000000000000001, NULL
      FROM generate_series(0, $3 - 1) AS i;
    COMMIT;
    IF g > 0 THEN
      INSERT INTO conductor_attempts
        SELECT 'dlv_' || lpad(($1 + (g - 1) * $3 + i)::text, 26, '0'), 1, 639000000000000000, 12000, 0, 200, 0, NULL, NULL
        FROM generate_series(0, $3 - 1) AS i
        ON CONFLICT (delivery_id, number) DO UPDATE SET outcome = EXCLUDED.outcome;
      UPDATE conductor_deliveries SET status = 2, attempts = attempts + 1, due_at = COALESCE(NULL, due_at), last_status_code = 200,
             last_error_kind = 0, last_error = NULL, leased_until = NULL
        WHERE id = ANY (ARRAY(SELECT 'dlv_' || lpad(($1 + (g - 1) * $3 + i)::text, 26, '0') FROM generate_series(0, $3 - 1) AS i));
      COMMIT;
    END IF;
  END LOOP;
END
\$\$;
SQL
}

# CPU ticks (1/100 s) of the postmaster, the children it has reaped (the sessions) and the ones still running.
ticks() {
  local postmaster
  postmaster=$(head -1 "$work/data/postmaster.pid")
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat"
    for child in $(pgrep -P "$postmaster"); do awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || true; done
  } | awk '{s += $1} END {print s}'
}

rows 1000000000 5000 "$group" | "${psql[@]}"   # warm-up
before=$(ticks); start=$(date +%s.%N)
rows 0 "$count" "$group" | "${psql[@]}"
after=$(ticks); end=$(date +%s.%N)
awk -v t=$((after - before)) -v n="$count" -v g="$group" -v s="$start" -v e="$end" \
  'BEGIN { printf "PostgreSQL floor: %d deliveries in groups of %d: server CPU %.1f µs/delivery, wall %.1f µs/delivery\n", n, g, t * 10000 / n, (e - s) * 1e6 / n }'
