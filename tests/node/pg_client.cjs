// node-postgres (`pg`) against slod's PostgreSQL wire port: simple query, extended query with
// parameters, a named prepared statement, type parsing. argv[2] = JSON {port, expected}.
// Run with NODE_PATH=scripts/node/node_modules. Prints failures; exit 1 when any.
const { Client } = require("pg");

const cfg = JSON.parse(process.argv[2]);
const exp = cfg.expected;
const failures = [];
const check = (name, got, want) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
};

(async () => {
  const c = new Client({ host: "127.0.0.1", port: cfg.port, database: "slod", user: "node" });
  await c.connect();
  // Simple protocol.
  let r = await c.query("SELECT faas_name, count(*) AS n FROM spans GROUP BY faas_name ORDER BY faas_name");
  check("simple", r.rows.map((x) => [x.faas_name, Number(x.n)]), exp.per_function.map((x) => [x[0], x[1]]));
  // Extended with parameters.
  r = await c.query("SELECT count(*) AS n FROM spans WHERE faas_name = $1 AND duration_ns >= $2", ["checkout", 100000000]);
  check("extended", Number(r.rows[0].n), exp.checkout_at_least_100ms);
  // Named prepared statement, twice.
  for (let i = 0; i < 2; i++) {
    r = await c.query({ name: "by_fn", text: "SELECT count(*) AS n FROM spans WHERE faas_name = $1", values: ["search"] });
  }
  check("named", Number(r.rows[0].n), exp.per_function[1][1]);
  // Types: timestamptz -> Date, bool, json -> object.
  r = await c.query("SELECT start_time, is_error, attributes FROM spans WHERE faas_name = $1 ORDER BY start_time LIMIT 1", ["checkout"]);
  check("timestamptz", r.rows[0].start_time.getTime(), Math.floor(exp.first_start_us / 1000));
  check("bool", r.rows[0].is_error, false);
  check("json", r.rows[0].attributes["app.route"], exp.first_route);
  // float8 infinities and NaN (node-postgres parses PostgreSQL's 'Infinity' spelling).
  r = await c.query("SELECT CAST('Infinity' AS DOUBLE) AS a, CAST('-Infinity' AS DOUBLE) AS b, CAST('NaN' AS DOUBLE) AS n");
  check("infinity", [r.rows[0].a === Infinity, r.rows[0].b === -Infinity, Number.isNaN(r.rows[0].n)], [true, true, true]);
  // An error, then the connection still works.
  try {
    await c.query("DROP TABLE spans");
    failures.push("DROP TABLE: no error");
  } catch (e) {
    check("sqlstate", e.code, "25006");
  }
  r = await c.query("SELECT 1 AS one");
  check("after error", Number(r.rows[0].one), 1); // int8 arrives as a string in node-postgres
  await c.end();
})()
  .catch((e) => failures.push(`exception: ${e.stack || e}`))
  .finally(() => {
    failures.forEach((f) => console.log(f));
    process.exit(failures.length ? 1 : 0);
  });
