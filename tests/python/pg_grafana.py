"""Replays what Grafana's PostgreSQL data source sends (shared/reference/sql-grafana.md §1.2,
§1.3, §7) through psycopg's simple protocol, with the macros expanded by a port of Grafana's
macros.go, and checks each statement succeeds with the columns and types Grafana needs.

Usage: pg_grafana.py '<json config>' with keys dsn, from_s, to_s. Exit 1 on any failure.
"""

import datetime as dt
import json
import re
import sys
from decimal import Decimal

import psycopg
import psycopg.pq

cfg = json.loads(sys.argv[1])
FROM = dt.datetime.fromtimestamp(cfg["from_s"], dt.timezone.utc)
TO = dt.datetime.fromtimestamp(cfg["to_s"], dt.timezone.utc)
failures = []

TIMESTAMPTZ, FLOAT8, INT8, INT4, TEXT, NUMERIC = 1184, 701, 20, 23, 25, 1700
NUMBER = {FLOAT8, INT8, INT4, NUMERIC, 21, 700}


# ---- port of grafana pkg/tsdb/grafana-postgresql-datasource/macros.go (and sqleng.Interpolate)
def go_v(x):
    """Go fmt %v of a float64 = strconv 'g' with the shortest digits, which switches to
    e-notation when the exponent is < -4 or >= 6: 300 -> '300', 1036800 -> '1.0368e+06'."""
    if x == 0:
        return "0"
    sign, digits, exp = Decimal(repr(float(x))).normalize().as_tuple()
    e10, ds = len(digits) + exp - 1, "".join(map(str, digits))
    if e10 < -4 or e10 >= 6:
        return f"{'-' if sign else ''}{ds[0]}{'.' + ds[1:] if len(ds) > 1 else ''}e{'+' if e10 >= 0 else '-'}{abs(e10):02d}"
    return ("-" if sign else "") + format(Decimal(repr(abs(float(x)))).normalize(), "f")


def rfc3339nano(t):
    f = f"{t.microsecond:06d}".rstrip("0")
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ("." + f if f else "") + "Z"


def parse_interval(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", s.strip())
    mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[m.group(2)]
    return float(m.group(1)) * mult


RX = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")


def expand(sql, interval_s=60, interval_str="1m", timescale=False):
    sql = (
        sql.replace("$__interval_ms", str(int(interval_s * 1000)))
        .replace("$__interval", interval_str)
        .replace("$__unixEpochFrom()", str(int(FROM.timestamp())))
        .replace("$__unixEpochTo()", str(int(TO.timestamp())))
    )
    original = sql

    def sub(m):
        name, args = m.group(1), [a.strip(" ") for a in m.group(2).split(",")]
        i = original.find(m.group(0)) + len(m.group(0))
        if name == "__timeGroup" and original[i : i + 1] == ",":
            name = "__timeGroupAlias"
        return macro(name, args, timescale)

    return RX.sub(sub, sql)


def macro(name, args, timescale):
    f, t = FROM, TO
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{rfc3339nano(f)}' AND '{rfc3339nano(t)}'"
    if name == "__timeFrom":
        return f"'{rfc3339nano(f)}'"
    if name == "__timeTo":
        return f"'{rfc3339nano(t)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        secs = parse_interval(args[1].strip("'"))
        if timescale:
            g = f"time_bucket('{secs:.3f}s',{args[0]})"
        else:
            g = f"floor(extract(epoch from {args[0]})/{go_v(secs)})*{go_v(secs)}"
        return g + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        return f"{args[0]} >= {int(f.timestamp())} AND {args[0]} <= {int(t.timestamp())}"
    if name == "__unixEpochNanoFilter":
        return f"{args[0]} >= {int(f.timestamp()) * 10**9} AND {args[0]} <= {int(t.timestamp()) * 10**9}"
    if name == "__unixEpochNanoFrom":
        return str(int(f.timestamp()) * 10**9)
    if name == "__unixEpochNanoTo":
        return str(int(t.timestamp()) * 10**9)
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        secs = parse_interval(args[1].strip("'"))
        g = f"floor(({args[0]})/{go_v(secs)})*{go_v(secs)}"
        return g + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise ValueError(f"unknown macro {name}")


# ---- statements: (name, raw SQL with macros, expected columns [(name, oid set)], checks)
EPOCH_SUB = "(SELECT CAST(extract(epoch from start_time) AS BIGINT) AS ts, CAST(start_time AS BIGINT) AS ns, duration_ns FROM spans) s"
SEARCH_PATH = """(
      SELECT
        CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
      FROM
        generate_series(
          array_lower(string_to_array(current_setting('search_path'),','),1),
          array_upper(string_to_array(current_setting('search_path'),','),1)
        ) as i,
        string_to_array(current_setting('search_path'),',') s
      )"""
SHOW_TABLES = f"""SELECT
    CASE WHEN
          quote_ident(table_schema) IN {SEARCH_PATH}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN
          quote_ident(table_schema) IN {SEARCH_PATH}
    THEN 0 ELSE 1 END, 1"""


def get_schema(table):
    t = table.replace("'", "''")
    return f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('{t}'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('{t}'))[1]
          AND quote_ident(table_name) = (parse_ident('{t}'))[2]
        ELSE quote_ident(table_name) = '{t}'
          AND quote_ident(table_schema) IN {SEARCH_PATH}
      END"""


TS = {"time": NUMBER | {TIMESTAMPTZ}}
CASES = [
    # config-page version detection and TimescaleDB probe
    ("version", "SELECT current_setting('server_version_num')::int/100 as version", [("version", NUMBER)], {"rows": 1}),
    ("timescaledb probe", "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'", [("extversion", {TEXT, 19, 1043})], {"rows": 0}),
    # query builder metadata
    ("tables", SHOW_TABLES, [("table", {TEXT, 19, 1043})], {"contains": ("table", {"spans", "public.spans"})}),
    ("columns public.spans", get_schema("public.spans"), [("column", {TEXT, 19, 1043}), ("type", {TEXT, 19, 1043})], {"contains": ("column", {"start_time"})}),
    ("columns spans", get_schema("spans"), [("column", {TEXT, 19, 1043}), ("type", {TEXT, 19, 1043})], {}),
    # time series, every macro form
    ("timeGroupAlias interval", "SELECT $__timeGroupAlias(start_time, $__interval), count(*) AS value FROM spans WHERE $__timeFilter(start_time) GROUP BY 1 ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("timeGroup pre-5.3 + metric", "SELECT $__timeGroup(start_time, '5m'), faas_name AS metric, count(*) AS value FROM spans WHERE $__timeFilter(start_time) GROUP BY 1, 2 ORDER BY 1", [("time", NUMBER), ("metric", {TEXT}), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("timeGroup fill", "SELECT $__timeGroup(start_time, $__interval, 0) AS time, avg(duration_ns) AS value FROM spans WHERE $__timeFilter(start_time) GROUP BY time ORDER BY time", [("time", NUMBER), ("value", NUMBER)], {"sorted": True}),
    ("timeGroup 12d e-notation", "SELECT $__timeGroupAlias(start_time, '12d'), count(*) AS value FROM spans WHERE $__timeFilter(start_time) GROUP BY 1 ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True}),
    ("timeGroup 500ms", "SELECT $__timeGroupAlias(start_time, '500ms'), count(*) AS value FROM spans WHERE $__timeFilter(start_time) GROUP BY 1 ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True}),
    ("time", "SELECT $__time(start_time), duration_ns / 1e6 AS value FROM spans WHERE $__timeFilter(start_time) ORDER BY 1", [("time", {TIMESTAMPTZ}), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("timeEpoch", "SELECT $__timeEpoch(start_time), duration_ns AS value FROM spans WHERE $__timeFilter(start_time) ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("timeFrom/timeTo literals", "SELECT start_time AS time, duration_ns AS value FROM spans WHERE start_time >= $__timeFrom() AND start_time < $__timeTo() ORDER BY 1", [("time", {TIMESTAMPTZ}), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("timeFrom cast", "SELECT $__timeFrom()::timestamptz AS time, 1 AS value", [("time", {TIMESTAMPTZ}), ("value", NUMBER)], {"rows": 1}),
    ("unixEpochFilter", f"SELECT ts AS time, duration_ns AS value FROM {EPOCH_SUB} WHERE $__unixEpochFilter(ts) ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("unixEpochFrom/To", f"SELECT ts AS time, duration_ns AS value FROM {EPOCH_SUB} WHERE ts >= $__unixEpochFrom() AND ts <= $__unixEpochTo() ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("unixEpochNanoFilter", f"SELECT ns AS time, duration_ns AS value FROM {EPOCH_SUB} WHERE $__unixEpochNanoFilter(ns) ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True, "rows_min": 2}),
    ("unixEpochNanoFrom/To", f"SELECT count(*) AS value FROM {EPOCH_SUB} WHERE ns >= $__unixEpochNanoFrom() AND ns <= $__unixEpochNanoTo()", [("value", NUMBER)], {"rows": 1}),
    ("unixEpochGroupAlias", f"SELECT $__unixEpochGroupAlias(ts, '5m'), count(*) AS value FROM {EPOCH_SUB} WHERE $__unixEpochFilter(ts) GROUP BY 1 ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True}),
    ("unixEpochGroup", f"SELECT $__unixEpochGroup(ts, '1h') AS time, count(*) AS value FROM {EPOCH_SUB} GROUP BY 1 ORDER BY 1", [("time", NUMBER), ("value", NUMBER)], {"sorted": True}),
    ("interval_ms", "SELECT $__interval_ms AS ms", [("ms", NUMBER)], {"rows": 1}),
    # visual builder output
    ("builder", "SELECT $__timeGroupAlias(start_time,$__interval), AVG(duration_ns) FROM public.spans WHERE $__timeFilter(start_time) GROUP BY 1 ORDER BY 1 LIMIT 50", [("time", NUMBER), (None, NUMBER)], {"sorted": True}),
    # table format, annotations, variables
    ("table", "SELECT faas_name, count(*) AS invocations, avg(duration_ns) / 1e6 AS avg_ms FROM spans WHERE $__timeFilter(start_time) GROUP BY faas_name ORDER BY faas_name", [("faas_name", {TEXT}), ("invocations", NUMBER), ("avg_ms", NUMBER)], {"rows": 2}),
    ("annotations", "SELECT start_time AS time, end_time AS timeend, name AS text, faas_name AS tags FROM spans WHERE $__timeFilter(start_time) AND is_error ORDER BY 1", [("time", {TIMESTAMPTZ}), ("timeend", {TIMESTAMPTZ}), ("text", {TEXT}), ("tags", {TEXT})], {"rows": 2}),
    ("variable text/value", "SELECT DISTINCT faas_name AS __text, faas_name AS __value FROM spans ORDER BY 1", [("__text", {TEXT}), ("__value", {TEXT})], {"rows": 2}),
    ("variable multi", "SELECT count(*) AS n FROM spans WHERE faas_name IN ('checkout','search') AND faas_name LIKE '%'", [("n", NUMBER)], {"rows": 1}),
    ("empty result", "SELECT $__time(start_time), duration_ns AS value FROM spans WHERE $__timeFilter(start_time) AND false", [("time", {TIMESTAMPTZ}), ("value", NUMBER)], {"rows": 0}),
    ("trailing sqlcommenter", "SELECT 1 AS one /* dashboard='x',panel='2' */", [("one", NUMBER)], {"rows": 1}),
    ("trailing line comment", "SELECT 1 AS one -- c", [("one", NUMBER)], {"rows": 1}),
]
TIMESCALE = ("timescaledb time_bucket", "SELECT $__timeGroupAlias(start_time, '5m'), count(*) AS value FROM spans WHERE $__timeFilter(start_time) GROUP BY 1 ORDER BY 1", [("time", {TIMESTAMPTZ}), ("value", NUMBER)], {"sorted": True, "rows_min": 2})


def run(conn, name, sql, columns, checks):
    cur = psycopg.ClientCursor(conn)  # simple protocol, like pgconn.Exec
    try:
        cur.execute(sql)
    except psycopg.Error as e:
        failures.append(f"{name}: {e.sqlstate} {e}\n    {sql}")
        return
    desc = cur.description or []
    got = [(d.name, d.type_code) for d in desc]
    if len(got) != len(columns):
        failures.append(f"{name}: columns {got}, want {columns}")
        return
    for (gname, goid), (wname, woids) in zip(got, columns):
        if wname is not None and gname != wname:
            failures.append(f"{name}: column {gname!r}, want {wname!r}")
        if goid not in woids:
            failures.append(f"{name}: column {gname!r} has type oid {goid}, want one of {sorted(woids)}")
    rows = cur.fetchall()
    if "rows" in checks and len(rows) != checks["rows"]:
        failures.append(f"{name}: {len(rows)} rows, want {checks['rows']}")
    if "rows_min" in checks and len(rows) < checks["rows_min"]:
        failures.append(f"{name}: {len(rows)} rows, want at least {checks['rows_min']}")
    if checks.get("sorted"):
        times = [r[0] for r in rows]
        if times != sorted(times):
            failures.append(f"{name}: time column not ascending")
    if "contains" in checks:
        col, values = checks["contains"]
        idx = [d.name for d in desc].index(col)
        if not {r[idx] for r in rows} & values:
            failures.append(f"{name}: no row with {col} in {values}: {rows[:10]}")


with psycopg.connect(cfg["dsn"], autocommit=True) as conn:
    # Save & test: pgx sends a comment-only query and expects EmptyQueryResponse.
    for ping in (b"-- ping", b";"):
        res = conn.pgconn.exec_(ping)
        if res.status != psycopg.pq.ExecStatus.EMPTY_QUERY:
            failures.append(f"{ping!r}: status {res.status}, want EMPTY_QUERY")
    if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        failures.append("not idle after ping")
    for name, sql, columns, checks in CASES:
        run(conn, name, expand(sql), columns, checks)
        if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            failures.append(f"{name}: ReadyForQuery not idle afterwards")
    name, sql, columns, checks = TIMESCALE
    run(conn, name, expand(sql, timescale=True), columns, checks)
    # Multi-statement queries (Grafana allows them; the first result set defines the frame).
    res = conn.pgconn.exec_(b"SET TIME ZONE 'UTC'; SELECT 42 AS answer")
    if res.status != psycopg.pq.ExecStatus.TUPLES_OK or res.get_value(0, 0) != b"42":
        failures.append(f"SET; SELECT: {res.status} {res.error_message}")
    res = conn.pgconn.exec_(b"SELECT 10 AS a; SELECT 20 AS a")
    if res.status != psycopg.pq.ExecStatus.TUPLES_OK or res.get_value(0, 0) != b"20":
        failures.append(f"SELECT; SELECT: {res.status} {res.error_message}")

for f in failures:
    print(f)
print(f"{len(CASES) + 4} grafana statements checked, {len(failures)} failures", file=sys.stderr)
sys.exit(1 if failures else 0)
