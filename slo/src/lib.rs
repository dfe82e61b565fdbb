//! slod SLO engine (DESIGN §4): the signal catalogue (SQL views every SLI, dashboard and rule
//! reads), SLO specs, SLI rollups, error budgets and multiwindow multi-burn-rate evaluation,
//! SQL alert rules, and the alert conditions handed to the alerting crate.

pub mod backtest;
pub mod burn;
pub mod catalogue;
pub mod condition;
pub mod duration;
pub mod evaluator;
pub mod policy;
pub mod rollup;
pub mod rules;
pub mod shared;
pub mod spec;
pub mod tables;
