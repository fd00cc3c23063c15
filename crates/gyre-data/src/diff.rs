//! What changed between two profiles: columns added, removed or retyped, row counts, and
//! per-column statistics.

use gyre_core::{ColumnProfile, ColumnType, DatasetProfile};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileDiff {
    pub rows: (u64, u64),
    pub added: Vec<(String, ColumnType)>,
    pub removed: Vec<(String, ColumnType)>,
    pub retyped: Vec<(String, ColumnType, ColumnType)>,
    /// Columns present on both sides whose statistics changed.
    pub changed: Vec<ColumnDiff>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDiff {
    pub name: String,
    pub stats: Vec<StatChange>,
    /// Values among the right side's most frequent ones that the left side never had.
    pub new_values: Vec<String>,
    /// Values among the left side's most frequent ones that the right side no longer has.
    pub gone_values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatChange {
    pub stat: &'static str,
    pub from: f64,
    pub to: f64,
}

impl ProfileDiff {
    pub fn is_empty(&self) -> bool {
        self.rows.0 == self.rows.1
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.retyped.is_empty()
            && self.changed.is_empty()
    }
}

fn stats(c: &ColumnProfile) -> Vec<(&'static str, f64)> {
    // The non-null count is left out: it moves with the row count, which is reported once.
    let mut v = vec![
        ("nulls", c.nulls as f64),
        ("null_share", c.null_share()),
        ("distinct", c.distinct as f64),
    ];
    if let Some(n) = &c.numeric {
        v.extend([
            ("min", n.min),
            ("max", n.max),
            ("mean", n.mean),
            ("std", n.std),
            ("p50", n.quantile(0.5).unwrap_or(f64::NAN)),
        ]);
    }
    v
}

pub fn diff_profiles(a: &DatasetProfile, b: &DatasetProfile) -> ProfileDiff {
    let mut d = ProfileDiff {
        rows: (a.rows, b.rows),
        added: Vec::new(),
        removed: Vec::new(),
        retyped: Vec::new(),
        changed: Vec::new(),
    };
    for ca in &a.columns {
        let Some(cb) = b.column(&ca.name) else {
            d.removed.push((ca.name.clone(), ca.dtype));
            continue;
        };
        if ca.dtype != cb.dtype {
            d.retyped.push((ca.name.clone(), ca.dtype, cb.dtype));
        }
        let (sa, sb) = (stats(ca), stats(cb));
        let changes: Vec<StatChange> = sa
            .iter()
            .filter_map(|&(stat, from)| {
                let to = sb.iter().find(|(s, _)| *s == stat)?.1;
                (from != to && !(from.is_nan() && to.is_nan())).then_some(StatChange {
                    stat,
                    from,
                    to,
                })
            })
            .collect();
        let top = |c: &ColumnProfile| -> BTreeSet<String> {
            c.top_values.iter().map(|v| v.value.clone()).collect()
        };
        let (ta, tb) = (top(ca), top(cb));
        // Only a complete list of values tells that one is new or gone.
        let complete = |c: &ColumnProfile| c.top_exact && c.other_count == 0;
        let new_values = if complete(ca) {
            tb.difference(&ta).cloned().collect()
        } else {
            Vec::new()
        };
        let gone_values = if complete(cb) {
            ta.difference(&tb).cloned().collect()
        } else {
            Vec::new()
        };
        if !changes.is_empty() || !new_values.is_empty() || !gone_values.is_empty() {
            d.changed.push(ColumnDiff {
                name: ca.name.clone(),
                stats: changes,
                new_values,
                gone_values,
            });
        }
    }
    for cb in &b.columns {
        if a.column(&cb.name).is_none() {
            d.added.push((cb.name.clone(), cb.dtype));
        }
    }
    d
}
