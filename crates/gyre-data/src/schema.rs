//! Schema inference: a first schema from a profile, for the user to edit.

use gyre_core::profile::TOP_VALUES;
use gyre_core::{ColumnSchema, ColumnType, DatasetProfile, RowBounds, Schema};

/// Rounds a share up to 3 decimals, so the data it came from always passes.
fn ceil_share(x: f64) -> f64 {
    ((x * 1000.0).ceil() / 1000.0).min(1.0)
}

/// Infers a schema that the profiled data satisfies: observed types, null shares (rounded
/// up), numeric ranges, the complete category lists of low-cardinality columns, and
/// uniqueness of integer and text columns whose values never repeat.
pub fn infer_schema(profile: &DatasetProfile, dataset: Option<&str>) -> Schema {
    let columns = profile
        .columns
        .iter()
        .map(|c| {
            let complete_values =
                c.top_exact && c.other_count == 0 && c.distinct as usize <= TOP_VALUES;
            let categorical = matches!(c.dtype, ColumnType::String | ColumnType::Boolean);
            let schema = ColumnSchema {
                dtype: c.dtype,
                required: true,
                max_null_share: Some(if c.dtype == ColumnType::Empty {
                    1.0
                } else {
                    ceil_share(c.null_share())
                }),
                // Data with infinities satisfies no finite range, so none is inferred.
                min: c
                    .numeric
                    .as_ref()
                    .filter(|n| n.infinite == 0)
                    .map(|n| n.min),
                max: c
                    .numeric
                    .as_ref()
                    .filter(|n| n.infinite == 0)
                    .map(|n| n.max),
                categories: (categorical && complete_values && c.count > 0)
                    .then(|| c.top_values.iter().map(|v| v.value.clone()).collect()),
                max_unseen_share: 0.0,
                unique: c.count >= 2
                    && c.distinct_exact
                    && c.distinct == c.count
                    && matches!(c.dtype, ColumnType::Integer | ColumnType::String),
                severity: Default::default(),
            };
            (c.name.clone(), schema)
        })
        .collect();
    Schema {
        dataset: dataset.map(String::from),
        rows: RowBounds {
            min: Some(profile.rows.min(1)),
            max: None,
        },
        severity: Default::default(),
        columns,
    }
}
