//! File-level pruning by time: the manifest knows each Parquet file's time range, so a query
//! with a time filter (`start_time >= '…' AND start_time < '…'`, Grafana's `BETWEEN`) opens only
//! the files that can hold matching rows, instead of reading every footer and letting row-group
//! statistics say no. Conservative: a filter it does not understand keeps every file.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

/// Inclusive bounds (ns since the epoch) the time column must lie within; `None` = unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TimeRange {
    pub(crate) lo: Option<i64>,
    pub(crate) hi: Option<i64>,
}

impl TimeRange {
    /// The range every conjunct of `filters` on `column` allows.
    pub(crate) fn from_filters(filters: &[Expr], column: &str) -> TimeRange {
        let mut r = TimeRange::default();
        for f in filters {
            r.apply(f, column);
        }
        r
    }

    /// True when a file whose rows lie in `[min, max]` may hold a matching row.
    pub(crate) fn overlaps(&self, min: i64, max: i64) -> bool {
        self.lo.is_none_or(|lo| max >= lo) && self.hi.is_none_or(|hi| min <= hi)
    }

    fn raise_lo(&mut self, v: i64) {
        self.lo = Some(self.lo.map_or(v, |lo| lo.max(v)));
    }

    fn lower_hi(&mut self, v: i64) {
        self.hi = Some(self.hi.map_or(v, |hi| hi.min(v)));
    }

    fn apply(&mut self, e: &Expr, column: &str) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if *op == Operator::And {
                    self.apply(left, column);
                    self.apply(right, column);
                    return;
                }
                // `col op literal`, or `literal op col` with the operator mirrored.
                let (op, v) = match (is_column(left, column), is_column(right, column)) {
                    (true, false) => (*op, nanos(right)),
                    (false, true) => match op.swap() {
                        Some(op) => (op, nanos(left)),
                        None => return,
                    },
                    _ => return,
                };
                let Some(v) = v else { return };
                match op {
                    Operator::Eq => {
                        self.raise_lo(v);
                        self.lower_hi(v);
                    }
                    // `>` and `<` keep the boundary: a nanosecond of slack is harmless.
                    Operator::Gt | Operator::GtEq => self.raise_lo(v),
                    Operator::Lt | Operator::LtEq => self.lower_hi(v),
                    _ => {}
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_column(expr, column) => {
                if let Some(v) = nanos(low) {
                    self.raise_lo(v);
                }
                if let Some(v) = nanos(high) {
                    self.lower_hi(v);
                }
            }
            _ => {}
        }
    }
}

/// True when a filter looks one id up (`trace_id = X'…'`, `span_id = …`): then only a row
/// group or two survive the bloom filter, and decoding just the id column there first
/// (Parquet filter pushdown) saves decoding every other projected column of ~100k rows.
pub(crate) fn is_id_lookup(filters: &[Expr]) -> bool {
    filters.iter().any(looks_up_id)
}

fn looks_up_id(e: &Expr) -> bool {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return false;
    };
    let id = |e: &Expr| {
        ["trace_id", "span_id", "parent_span_id"]
            .iter()
            .any(|c| is_column(e, c))
    };
    let lit = |e: &Expr| matches!(e, Expr::Literal(..));
    match op {
        Operator::Eq => (id(left) && lit(right)) || (lit(left) && id(right)),
        Operator::And => looks_up_id(left) || looks_up_id(right),
        _ => false,
    }
}

fn is_column(e: &Expr, column: &str) -> bool {
    matches!(e, Expr::Column(c) if c.name == column)
}

/// A timestamp literal in nanoseconds since the epoch.
fn nanos(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::TimestampNanosecond(Some(t), _) => Some(*t),
        ScalarValue::TimestampMicrosecond(Some(t), _) => t.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(t), _) => t.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(t), _) => t.checked_mul(1_000_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn ts(ns: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(ns), Some("UTC".into())))
    }

    #[test]
    fn bounds_come_from_comparisons_between_and_equality() {
        let r = TimeRange::from_filters(
            &[col("start_time").gt_eq(ts(100)), col("start_time").lt(ts(200))],
            "start_time",
        );
        assert_eq!(
            r,
            TimeRange {
                lo: Some(100),
                hi: Some(200)
            }
        );
        assert!(r.overlaps(150, 300) && r.overlaps(0, 100) && r.overlaps(200, 250));
        assert!(!r.overlaps(0, 99) && !r.overlaps(201, 300));

        // Mirrored, BETWEEN (Grafana's $__timeFilter), AND inside one filter, other units.
        let r = TimeRange::from_filters(&[ts(100).lt_eq(col("start_time"))], "start_time");
        assert_eq!(
            r,
            TimeRange {
                lo: Some(100),
                hi: None
            }
        );
        let r = TimeRange::from_filters(&[col("time").between(ts(10), ts(20))], "time");
        assert_eq!(
            r,
            TimeRange {
                lo: Some(10),
                hi: Some(20)
            }
        );
        let us = lit(ScalarValue::TimestampMicrosecond(Some(3), None));
        let r = TimeRange::from_filters(&[col("time").gt(ts(1)).and(col("time").eq(us))], "time");
        assert_eq!(
            r,
            TimeRange {
                lo: Some(3_000),
                hi: Some(3_000)
            }
        );
    }

    #[test]
    fn id_lookups_are_recognised() {
        let id = lit(ScalarValue::FixedSizeBinary(16, Some(vec![0; 16])));
        assert!(is_id_lookup(&[col("trace_id").eq(id.clone())]));
        assert!(is_id_lookup(&[id
            .clone()
            .eq(col("span_id"))
            .and(col("name").eq(lit("x")))]));
        assert!(!is_id_lookup(&[col("name").eq(lit("x"))]));
        assert!(!is_id_lookup(&[col("trace_id").not_eq(id)]));
        assert!(!is_id_lookup(&[]));
    }

    #[test]
    fn anything_else_keeps_every_file() {
        for f in [
            col("end_time").gt(ts(100)),                                 // another column
            col("start_time").not_eq(ts(100)),                           // not a range
            col("start_time").gt(lit(5i64)),                             // not a timestamp
            col("start_time").not_between(ts(1), ts(2)),                 // negated
            col("start_time").gt(ts(1)).or(col("start_time").lt(ts(0))), // OR
        ] {
            let r = TimeRange::from_filters(std::slice::from_ref(&f), "start_time");
            assert_eq!(r, TimeRange::default(), "{f}");
            assert!(r.overlaps(i64::MIN, i64::MAX));
        }
    }
}
