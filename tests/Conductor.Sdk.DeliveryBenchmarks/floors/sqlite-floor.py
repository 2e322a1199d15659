#!/usr/bin/env python3
"""The SQLite store's floor (issue #18): the CPU that the rows of one delivery cost, with no pipeline around them.

For each delivery the store inserts its row, then records its attempt (a row in `attempts`) and its outcome (an update of
the row). This script runs exactly those statements through Python's sqlite3 module (SQLite's C library, as the store
uses it), in groups like the store's group commit: each transaction inserts a group of new deliveries (synced, as the
store syncs them) and records the outcomes of the previous group. It prints the process's CPU time per delivery.

The schema is the store's current one (schema v5, SqliteDeliveryStore.Migrations); keep the two in step.

    python3 sqlite-floor.py [deliveries=40000] [group=64]
"""
import os
import sys
import tempfile
import time
import sqlite3

SCHEMA = """
CREATE TABLE deliveries (id TEXT PRIMARY KEY, ensemble TEXT NOT NULL, event TEXT NOT NULL, notification_key TEXT NOT NULL,
    channel TEXT NOT NULL, endpoint TEXT NOT NULL, payload BLOB NOT NULL, created_at INTEGER NOT NULL, due_at INTEGER NOT NULL,
    status INTEGER NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL, last_status_code INTEGER NULL,
    last_error_kind INTEGER NOT NULL DEFAULT 0, last_error TEXT NULL, leased_until INTEGER NULL, trace_parent TEXT NULL);
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX deliveries_status_created ON deliveries (status, created_at);
CREATE INDEX deliveries_ensemble_created ON deliveries (ensemble, created_at);
CREATE INDEX deliveries_waiting ON deliveries (endpoint, due_at, id) WHERE status = 0 AND leased_until IS NULL;
CREATE INDEX deliveries_waiting_due ON deliveries (due_at, id) WHERE status = 0 AND leased_until IS NULL;
CREATE INDEX deliveries_leased ON deliveries (leased_until) WHERE status = 0 AND leased_until IS NOT NULL;
CREATE TABLE attempts (delivery_id TEXT NOT NULL, number INTEGER NOT NULL, started_at INTEGER NOT NULL,
    duration_ticks INTEGER NOT NULL, outcome INTEGER NOT NULL, status_code INTEGER NULL, error_kind INTEGER NOT NULL,
    error TEXT NULL, next_due_at INTEGER NULL, PRIMARY KEY (delivery_id, number));
"""

INSERT = "INSERT INTO deliveries VALUES (?, 'bench-orders', 'execution.completed', 'bench-orders/notify-shipping#0', 'webhook', " \
         "'http://127.0.0.1:5000/hooks', ?, ?, ?, 0, 0, 6, NULL, 0, NULL, ?, NULL)"
ATTEMPT = "INSERT OR REPLACE INTO attempts VALUES (?, 1, ?, 12000, 0, 200, 0, NULL, NULL)"
OUTCOME = "UPDATE deliveries SET status = 2, attempts = attempts + 1, due_at = COALESCE(NULL, due_at), last_status_code = 200, " \
          "last_error_kind = 0, last_error = NULL, leased_until = NULL WHERE id = ?"
TICKS = 639_000_000_000_000_000


def run(db, first, count, group, payload):
    """Stores `count` deliveries from id number `first` on; returns (CPU, wall) microseconds per delivery."""
    cpu, wall = time.process_time(), time.perf_counter()
    previous = []
    for start in range(first, first + count, group):
        ids = [f"dlv_{n:026d}" for n in range(start, min(start + group, first + count))]
        db.execute("BEGIN")
        db.executemany(INSERT, [(i, payload, TICKS, TICKS, TICKS + 1) for i in ids])
        for i in previous:
            db.execute(ATTEMPT, (i, TICKS))
            db.execute(OUTCOME, (i,))
        db.execute("COMMIT")
        previous = ids
    return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    group = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    with tempfile.TemporaryDirectory(prefix="conductor-floor-") as directory:
        db = sqlite3.connect(os.path.join(directory, "deliveries.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        payload = os.urandom(172)
        run(db, 10**9, 5_000, group, payload)  # warm-up: a table that is not empty, pages in the cache
        cpu, wall = run(db, 0, count, group, payload)
        print(f"SQLite floor: {count} deliveries in groups of {group}: CPU {cpu:.1f} µs/delivery, wall {wall:.1f} µs/delivery")
        db.close()


if __name__ == "__main__":
    main()
