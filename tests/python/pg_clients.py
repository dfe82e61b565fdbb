"""psycopg 3 against slod's PostgreSQL wire port, checked against the values the e2e test
sent and against DuckDB over the same flushed Parquet files.

Usage: pg_clients.py '<json config>' with keys dsn, spans_parquet (list of files), expected.
Prints one line per failed check and exits 1 when any check fails.
"""

import json
import sys

import duckdb
import psycopg

cfg = json.loads(sys.argv[1])
exp = cfg["expected"]
failures = []


def check(name, got, want):
    print("check", name, file=sys.stderr, flush=True)
    if got != want:
        failures.append(f"{name}: got {got!r}, want {want!r}")


duck = duckdb.connect()
duck.execute("SET threads TO 2")
duck.execute("SET TimeZone = 'UTC'")
files = ", ".join("'" + f.replace("'", "''") + "'" for f in cfg["spans_parquet"])
duck.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet([{files}], hive_partitioning = false)")

# The same SQL text on both sides: slod over pgwire, DuckDB over the Parquet files.
SAME_SQL = {
    "per_function": """
        SELECT faas_name, count(*) AS n, sum(CASE WHEN is_error THEN 1 ELSE 0 END) AS errors,
               max(duration_ns) AS max_ns, sum(duration_ns) AS sum_ns
        FROM spans GROUP BY faas_name ORDER BY faas_name""",
    "p95_exact": """
        SELECT faas_name, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) AS p95
        FROM spans GROUP BY faas_name ORDER BY faas_name""",
    "per_5_minutes": """
        SELECT CAST(floor(extract(epoch from start_time) / 300) * 300 AS BIGINT) AS t,
               count(*) AS n, sum(CASE WHEN http_response_status_code = 429 THEN 1 ELSE 0 END) AS throttled
        FROM spans GROUP BY 1 ORDER BY 1""",
    "error_rate": """
        SELECT faas_name, avg(CASE WHEN is_error THEN 1.0 ELSE 0.0 END) AS error_rate
        FROM spans WHERE is_invocation GROUP BY faas_name ORDER BY faas_name""",
}


def norm(rows):
    return [[float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in r] for r in rows]


with psycopg.connect(cfg["dsn"], autocommit=True) as conn:
    # Simple protocol (no parameters): ClientCursor sends one Query message.
    cur = psycopg.ClientCursor(conn)
    for name, sql in SAME_SQL.items():
        cur.execute(sql)
        ours = [list(r) for r in cur.fetchall()]
        theirs = [list(r) for r in duck.execute(sql).fetchall()]
        check(f"{name} (slod vs duckdb)", norm(ours), norm(theirs))
    cur.execute(SAME_SQL["per_function"])
    check("per_function (slod vs sent)", [list(r) for r in cur.fetchall()], exp["per_function"])

    # Type OIDs of the row description: timestamptz, int8, bool, text, bytea, json, float8,
    # int2 (kind), int4 (status code), float8[] (explicit list), int8[].
    cur.execute(
        "SELECT start_time, duration_ns, is_error, name, trace_id, attributes, "
        "duration_ns / 1e6 AS ms, kind, http_response_status_code, "
        "make_array(1.5, 2.5) AS fa, make_array(CAST(1 AS BIGINT), 2) AS ia "
        "FROM spans ORDER BY start_time LIMIT 1"
    )
    check("oids", [d.type_code for d in cur.description], [1184, 20, 16, 25, 17, 114, 701, 21, 23, 1022, 1016])
    row = cur.fetchone()
    check("timestamptz", int(row[0].timestamp() * 1_000_000), exp["first_start_us"])
    check("int8", row[1], exp["first_duration_ns"])
    check("bytea", row[4].hex(), exp["first_trace_hex"])
    check("json map", row[5].get("app.route"), exp["first_route"])
    check("float8[]", row[9], [1.5, 2.5])
    check("int8[]", row[10], [1, 2])

    # NULLs and NaN come through.
    cur.execute("SELECT CAST(NULL AS BIGINT) AS n, CAST('NaN' AS DOUBLE) AS nan, CAST(NULL AS TEXT) AS t")
    n, nan, t = cur.fetchone()
    check("null int8", n, None)
    check("nan", nan != nan, True)
    check("null text", t, None)

    # Extended protocol with parameters (psycopg: Parse/Bind/Execute, text parameters).
    got = conn.execute(
        "SELECT count(*) FROM spans WHERE faas_name = %s AND duration_ns >= %s", ("checkout", 100_000_000)
    ).fetchone()[0]
    check("extended with parameters", got, exp["checkout_at_least_100ms"])
    # Named prepared statements (psycopg prepares after 5 executions).
    for i in range(8):
        got = conn.execute("SELECT count(*) AS n FROM spans WHERE faas_name = %s", ("search",), prepare=True).fetchone()[0]
    check("prepared statement", got, exp["per_function"][1][1])
    # Binary results.
    bcur = conn.cursor(binary=True)
    bcur.execute(
        "SELECT start_time, duration_ns, is_error, trace_id, attributes FROM spans WHERE faas_name = %s ORDER BY start_time LIMIT 1",
        ("checkout",),
    )
    b = bcur.fetchone()
    check("binary timestamptz", int(b[0].timestamp() * 1_000_000), exp["first_start_us"])
    check("binary int8", b[1], exp["first_duration_ns"])
    check("binary bool", b[2], False)
    check("binary bytea", b[3].hex(), exp["first_trace_hex"])
    check("binary json", b[4].get("app.route"), exp["first_route"])
    # Trace lookup by hex id.
    got = conn.execute(
        "SELECT count(*) FROM spans WHERE trace_id = decode(%s, 'hex')", (exp["first_trace_hex"],)
    ).fetchone()[0]
    check("trace by hex id", got, 1)

    # Infinities come back as floats (PostgreSQL spells them 'Infinity' in text).
    cur.execute("SELECT CAST('Infinity' AS DOUBLE) AS a, CAST('-Infinity' AS DOUBLE) AS b")
    check("infinities (text)", cur.fetchone(), (float("inf"), float("-inf")))

    # psycopg's type introspection (TypeInfo.fetch: to_regtype and oid::regtype::text).
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "json")
    check("TypeInfo json", (info.oid, info.array_oid) if info else None, (114, 199))
    check("TypeInfo hstore (absent)", TypeInfo.fetch(conn, "hstore"), None)

    # Errors keep the connection usable, with SQLSTATE codes.
    for sql, code in [
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELEC 1", "42601"),
        ("DELETE FROM spans", "25006"),
        ("COPY spans TO '/tmp/slod-psycopg.csv'", "42501"),
        ("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'", "42501"),
    ]:
        try:
            conn.execute(sql)
            failures.append(f"{sql}: no error")
        except psycopg.Error as e:
            check(f"sqlstate of {sql}", e.sqlstate, code)
    check("still serving", conn.execute("SELECT 1").fetchone()[0], 1)

    # A transaction (psycopg's default mode) works: BEGIN ... COMMIT around queries.
with psycopg.connect(cfg["dsn"]) as conn:
    check("in transaction", conn.execute("SELECT count(*) FROM spans").fetchone()[0], sum(r[1] for r in exp["per_function"]))
    conn.commit()

for f in failures:
    print(f)
sys.exit(1 if failures else 0)
