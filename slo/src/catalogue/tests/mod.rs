//! Catalogue tests: small hand-built tables with the real storage schemas, every expected
//! value computed by hand in the test (comments show the arithmetic).

mod builder;
mod functions;
mod invocations;
pub(crate) mod metrics;
pub(crate) mod workflows;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use slod_storage::Table;

pub(crate) use builder::*;

use super::{CatalogueSettings, register_catalogue};

/// Runs `sql` and renders every cell as text (NULL as "NULL").
pub(crate) async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    let batches = match ctx.sql(sql).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

/// A single number from a one-row, one-column query (NULL → None).
pub(crate) async fn num(ctx: &SessionContext, sql: &str) -> Option<f64> {
    let r = rows(ctx, sql).await;
    assert_eq!(r.len(), 1, "{sql}: expected one row, got {r:?}");
    let cell = &r[0][0];
    (cell != "NULL").then(|| {
        cell.parse()
            .unwrap_or_else(|_| panic!("{sql}: {cell} is not a number"))
    })
}

pub(crate) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[track_caller]
pub(crate) fn assert_close(got: Option<f64>, want: f64) {
    let got = got.unwrap_or_else(|| panic!("got NULL, want {want}"));
    assert!(close(got, want), "got {got}, want {want}");
}

/// A catalogue over the given tables with `settings`.
pub(crate) fn catalogue(tables: &[(Table, Vec<Row>)], settings: &CatalogueSettings) -> SessionContext {
    let ctx = context(tables);
    register_catalogue(&ctx, settings).unwrap();
    ctx
}

pub(crate) fn spans(rows: Vec<Row>) -> SessionContext {
    catalogue(&[(Table::Spans, rows)], &CatalogueSettings::default())
}

#[tokio::test]
async fn every_view_is_registered_and_queryable_on_empty_tables() {
    let ctx = catalogue(&[], &CatalogueSettings::default());
    for v in super::VIEWS {
        // An empty store gives empty views, not errors.
        let n = rows(&ctx, &format!("SELECT count(*) FROM {}", v.name)).await;
        assert_eq!(n, vec![vec!["0".to_string()]], "{}", v.name);
    }
}

#[tokio::test]
async fn every_udf_in_the_docs_is_registered() {
    let ctx = catalogue(&[], &CatalogueSettings::default());
    let state = ctx.state();
    for u in super::UDFS {
        assert!(
            state.scalar_functions().contains_key(u.name) || state.aggregate_functions().contains_key(u.name),
            "{} is documented but not registered",
            u.name
        );
    }
}

#[test]
fn a_bad_glob_is_a_configuration_error_naming_the_pattern() {
    let mut s = CatalogueSettings::default();
    s.functions.push(super::FunctionSettings::new("orders-[a"));
    let ctx = context(&[]);
    let err = register_catalogue(&ctx, &s).unwrap_err().to_string();
    assert!(err.contains("functions.\"orders-[a\": invalid glob"), "{err}");
}

#[test]
fn docs_describe_every_view_and_udf() {
    let doc = include_str!("../../../../docs/signals.md");
    for v in super::VIEWS {
        assert!(
            doc.contains(&format!("### `{}`", v.name)),
            "docs/signals.md has no section for {}",
            v.name
        );
    }
    for u in super::UDFS {
        assert!(
            doc.contains(&format!("`{}(", u.name)),
            "docs/signals.md does not describe {}",
            u.name
        );
    }
}
