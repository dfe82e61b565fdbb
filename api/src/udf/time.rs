//! `time_bucket(width, ts)`: TimescaleDB's bucketing function, which Grafana's PostgreSQL
//! data source emits for `$__timeGroup` in TimescaleDB mode (`time_bucket('300.000s', ts)`).
//! Rewritten at planning time into DataFusion's `date_bin(interval, ts)`, so it costs nothing.

use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano};
use datafusion::common::{DataFusionError, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::lit;

pub(crate) fn time_bucket() -> ScalarUDF {
    ScalarUDF::new_from_impl(TimeBucket {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TimeBucket {
    signature: Signature,
}

impl ScalarUDFImpl for TimeBucket {
    fn name(&self) -> &str {
        "time_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType, DataFusionError> {
        match args.get(1) {
            Some(t @ DataType::Timestamp(..)) => Ok(t.clone()),
            Some(other) => plan_err!("time_bucket(width, ts): ts must be a timestamp, got {other}"),
            None => plan_err!("time_bucket(width, ts) takes two arguments"),
        }
    }

    fn simplify(
        &self,
        mut args: Vec<Expr>,
        _info: &SimplifyContext,
    ) -> Result<ExprSimplifyResult, DataFusionError> {
        let width = match args.first() {
            Some(Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _)) => {
                match parse_width(s) {
                    Some(ns) => ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 0, ns))),
                    None => {
                        return plan_err!(
                            "time_bucket('{s}', ts): width must be a number and a unit, e.g. '300.000s', '5m', '1 hour'"
                        );
                    }
                }
            }
            Some(Expr::Literal(v @ ScalarValue::IntervalMonthDayNano(_), _)) => v.clone(),
            _ => return Ok(ExprSimplifyResult::Original(args)),
        };
        let ts = args.remove(1);
        // date_bin(stride, source) bins from the Unix epoch, as time_bucket does.
        Ok(ExprSimplifyResult::Simplified(
            datafusion::functions::datetime::date_bin().call(vec![lit(width), ts]),
        ))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        exec_err!("time_bucket(width, ts): width must be a constant, e.g. time_bucket('5m', start_time)")
    }
}

/// `'300.000s'`, `'5m'`, `'90 seconds'`, `'1 hour'` → nanoseconds.
fn parse_width(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let unit_s: f64 = match unit.trim().trim_end_matches('s') {
        "m" if unit.trim() == "ms" => 0.001,
        "" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        "d" | "day" => 86400.0,
        "w" | "week" => 604800.0,
        _ => return None,
    };
    let ns = num * unit_s * 1e9;
    (1.0..1e18).contains(&ns).then_some(ns.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        // Grafana's TimescaleDB form, short units, words; nonsense and zero refused.
        assert_eq!(parse_width("300.000s"), Some(300_000_000_000));
        assert_eq!(parse_width("5m"), Some(300_000_000_000));
        assert_eq!(parse_width("500ms"), Some(500_000_000));
        assert_eq!(parse_width("1 hour"), Some(3_600_000_000_000));
        assert_eq!(parse_width("2 days"), Some(172_800_000_000_000));
        assert_eq!(parse_width("5 parsecs"), None);
        assert_eq!(parse_width("0s"), None);
    }
}
