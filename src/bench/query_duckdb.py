"""DuckDB side of `slod bench query` (embedded in the slod binary, run with the venv's python).

Reads {"files": [...], "threads": N, "runs": R, "queries": [{"name", "sql"}]} as JSON on
stdin, puts a `spans` view over exactly those Parquet files, runs each query once to warm up
and R times timed (execute + fetchall), and prints {"version", "results": {name: {"seconds":
[...], "rows": [[...]]}}} as JSON. Values: None -> "NULL", datetimes -> epoch seconds, bytes
-> hex, the rest str().
"""

import datetime as dt
import json
import sys
import time

import duckdb

cfg = json.load(sys.stdin)
con = duckdb.connect()
con.execute(f"SET threads = {int(cfg['threads'])}")
files = ", ".join("'" + f.replace("'", "''") + "'" for f in cfg["files"])
con.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet([{files}])")


def text(v):
    if v is None:
        return "NULL"
    if isinstance(v, dt.datetime):
        return repr(v.timestamp())
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return str(v)


results = {}
for q in cfg["queries"]:
    con.execute(q["sql"]).fetchall()
    seconds = []
    rows = []
    for _ in range(int(cfg["runs"])):
        t = time.perf_counter()
        rows = con.execute(q["sql"]).fetchall()
        seconds.append(time.perf_counter() - t)
    results[q["name"]] = {"seconds": seconds, "rows": [[text(v) for v in r] for r in rows]}
json.dump({"version": duckdb.__version__, "results": results}, sys.stdout)
