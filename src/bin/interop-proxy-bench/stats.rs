//! Medians, pairing and the printed table.
//!
//! Every figure is a median over repetitions. A ratio between two paths, or between two
//! sizes of one workload, is taken within each repetition first (the two measured minutes
//! apart, not a run apart), and its median over repetitions published: the machine's
//! slow drifts then cancel, where a ratio of separate medians can pair a quiet run with a
//! noisy one.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Stat {
    /// Of the finite values among `values`; NaN throughout when there are none.
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// `{median, min, max}`.
    pub fn json(&self) -> Value {
        json!({ "median": num(self.median), "min": num(self.min), "max": num(self.max) })
    }
}

/// A JSON number, or null where a figure could not be taken.
pub fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// One figure per repetition, per path (or per size).
#[derive(Default)]
pub struct Series(BTreeMap<String, Vec<f64>>);

impl Series {
    /// Appends repetition's figure for `key`.
    pub fn push(&mut self, key: &str, value: f64) {
        self.0.entry(key.to_string()).or_default().push(value);
    }

    /// The figures of `key`, one per repetition so far.
    pub fn get(&self, key: &str) -> &[f64] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// Their median, min and max.
    pub fn stat(&self, key: &str) -> Stat {
        Stat::of(self.get(key))
    }

    /// `f(a, b)` within each repetition, then the median over repetitions; NaN where
    /// either is missing.
    pub fn paired(&self, a: &str, b: &str, f: impl Fn(f64, f64) -> f64) -> Stat {
        Stat::of(&pair(self.get(a), self.get(b), f))
    }

    /// [`Self::paired`] for `a / b`.
    pub fn ratio(&self, a: &str, b: &str) -> Stat {
        self.paired(a, b, |a, b| a / b)
    }
}

/// `f(a[i], b[i])` for each repetition `i` both have.
pub fn pair(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(&a, &b)| f(a, b)).collect()
}

/// Rows of the printed table, in order.
#[derive(Default)]
pub struct Table {
    rows: Vec<(String, &'static str, Stat)>,
}

impl Table {
    /// A row: what, for which path, and its figures.
    pub fn add(&mut self, metric: &str, target: &'static str, stat: Stat) {
        self.rows.push((metric.to_string(), target, stat));
    }

    /// Prints every row.
    pub fn print(&self) {
        println!(
            "{:<60} {:<7} {:>11} {:>11} {:>11}",
            "metric", "path", "median", "min", "max"
        );
        for (metric, target, s) in &self.rows {
            println!(
                "{:<60} {:<7} {:>11} {:>11} {:>11}",
                metric,
                target,
                fmt(s.median),
                fmt(s.min),
                fmt(s.max)
            );
        }
    }
}

/// A figure with as many digits as it deserves.
pub fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_pair_within_repetitions() {
        let mut s = Series::default();
        for (a, b) in [(2.0, 1.0), (10.0, 10.0), (9.0, 3.0)] {
            s.push("a", a);
            s.push("b", b);
        }
        // Per repetition 2, 1, 3: median 2; a ratio of medians would say 9 / 3 = 3.
        assert_eq!(s.ratio("a", "b").median, 2.0);
        assert!(s.ratio("a", "missing").median.is_nan());
    }
}
