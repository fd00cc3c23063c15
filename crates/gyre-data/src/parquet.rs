//! Parquet profiling through Arrow. Types come from the file's schema, not from inference.

use crate::acc::{Budget, ColumnAcc, Source};
use crate::{DataError, FileProfile, Progress};
use arrow_array::{Array, ArrayRef, cast::AsArray, types};
use arrow_schema::{DataType, TimeUnit};
use gyre_core::ColumnType;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use rayon::prelude::*;
use std::path::Path;

fn column_type(dt: &DataType) -> Option<ColumnType> {
    Some(match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => ColumnType::Integer,
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
            ColumnType::Float
        }
        DataType::Boolean => ColumnType::Boolean,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
        DataType::Dictionary(_, v) if column_type(v) == Some(ColumnType::String) => {
            ColumnType::String
        }
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => ColumnType::Timestamp,
        _ => return None,
    })
}

pub(crate) fn profile_parquet(
    path: &Path,
    display: &str,
    progress: &Progress<'_>,
) -> Result<FileProfile, DataError> {
    let io_err = |source| DataError::Io {
        path: display.to_string(),
        source,
    };
    let pq_err = |e: &dyn std::fmt::Display| DataError::Parquet {
        file: display.to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    if size == 0 {
        return Err(DataError::Empty {
            path: display.to_string(),
        });
    }
    let meta =
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(|e| pq_err(&e))?;
    let schema = meta.schema().clone();
    let total_rows = meta.metadata().file_metadata().num_rows().max(1) as u64;
    let groups = meta.metadata().num_row_groups();
    let mut names = Vec::new();
    let mut types = Vec::new();
    for f in schema.fields() {
        let ty = column_type(f.data_type()).ok_or_else(|| DataError::UnsupportedType {
            file: display.to_string(),
            column: f.name().clone(),
            dtype: f.data_type().to_string(),
        })?;
        names.push(f.name().clone());
        types.push(ty);
    }
    let budget = Budget::for_columns(names.len());
    let worker_budget = budget.split(rayon::current_num_threads());
    let new_accs = || -> Vec<ColumnAcc> {
        types
            .iter()
            .map(|&t| ColumnAcc::new(Source::Typed(t)))
            .collect()
    };
    // Row groups are decoded in parallel, each worker folding into its own accumulators.
    let read_group = |mut state: (Vec<ColumnAcc>, u64),
                      group: usize|
     -> Result<(Vec<ColumnAcc>, u64), DataError> {
        // A file of its own: clones of one descriptor share one read position.
        let input = std::fs::File::open(path).map_err(io_err)?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
            .with_row_groups(vec![group])
            .with_batch_size(8192)
            .build()
            .map_err(|e| pq_err(&e))?;
        for batch in reader {
            let batch = batch.map_err(|e| pq_err(&e))?;
            for (acc, col) in state.0.iter_mut().zip(batch.columns()) {
                push_array(acc, col, &worker_budget).map_err(|e| pq_err(&e))?;
            }
            state.1 += batch.num_rows() as u64;
            progress(size * batch.num_rows() as u64 / total_rows);
        }
        Ok(state)
    };
    let (accs, rows) = (0..groups)
        .into_par_iter()
        .try_fold(|| (new_accs(), 0u64), read_group)
        .try_reduce(
            || (new_accs(), 0u64),
            |(mut a, ra), (b, rb)| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.merge(y, &budget);
                }
                Ok((a, ra + rb))
            },
        )?;
    Ok(FileProfile {
        names,
        accs,
        rows,
        budget,
    })
}

fn push_array(
    acc: &mut ColumnAcc,
    col: &ArrayRef,
    budget: &Budget,
) -> Result<(), arrow_schema::ArrowError> {
    macro_rules! numbers {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            for i in 0..a.len() {
                if a.is_null(i) {
                    acc.push_null();
                } else {
                    let v = a.value(i);
                    acc.push_number(v as f64, &v.to_string(), budget);
                }
            }
        }};
    }
    match col.data_type() {
        DataType::Int8 => numbers!(types::Int8Type),
        DataType::Int16 => numbers!(types::Int16Type),
        DataType::Int32 => numbers!(types::Int32Type),
        DataType::Int64 => numbers!(types::Int64Type),
        DataType::UInt8 => numbers!(types::UInt8Type),
        DataType::UInt16 => numbers!(types::UInt16Type),
        DataType::UInt32 => numbers!(types::UInt32Type),
        DataType::UInt64 => numbers!(types::UInt64Type),
        DataType::Float32 => numbers!(types::Float32Type),
        DataType::Float64 => numbers!(types::Float64Type),
        DataType::Boolean => {
            let a = col.as_boolean();
            for i in 0..a.len() {
                if a.is_null(i) {
                    acc.push_null();
                } else {
                    acc.push_category(if a.value(i) { "true" } else { "false" }, budget);
                }
            }
        }
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            let micros = arrow_cast::cast(col, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = micros.as_primitive::<types::TimestampMicrosecondType>();
            let text = arrow_cast::cast(col, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            for i in 0..micros.len() {
                if micros.is_null(i) {
                    acc.push_null();
                } else {
                    acc.push_timestamp(micros.value(i), text.value(i), budget);
                }
            }
        }
        DataType::Utf8 => strings(acc, col.as_string::<i32>(), budget),
        _ => {
            // Large strings, string views, dictionaries, decimals and half floats: cast to
            // one of the forms above.
            let target = if column_type(col.data_type()) == Some(ColumnType::Float) {
                DataType::Float64
            } else {
                DataType::Utf8
            };
            let cast = arrow_cast::cast(col, &target)?;
            push_array(acc, &cast, budget)?;
        }
    }
    Ok(())
}

fn strings(acc: &mut ColumnAcc, a: &arrow_array::StringArray, budget: &Budget) {
    for i in 0..a.len() {
        if a.is_null(i) {
            acc.push_null();
        } else {
            acc.push_category(a.value(i), budget);
        }
    }
}

/// The column names of a Parquet file.
pub(crate) fn column_names(path: &Path, display: &str) -> Result<Vec<String>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: display.to_string(),
        source,
    })?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(|e| {
        DataError::Parquet {
            file: display.to_string(),
            message: e.to_string(),
        }
    })?;
    Ok(meta
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// Streams a Parquet file's values as text to `sink` (for checks written against text, such
/// as validation), and returns the row count.
pub(crate) fn scan_text(
    path: &Path,
    display: &str,
    progress: &Progress<'_>,
    sink: &mut impl crate::csv::RowSink,
) -> Result<u64, DataError> {
    let pq_err = |e: &dyn std::fmt::Display| DataError::Parquet {
        file: display.to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: display.to_string(),
        source,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq_err(&e))?;
    let total = builder.metadata().file_metadata().num_rows().max(1) as u64;
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(|e| pq_err(&e))?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| pq_err(&e))?;
        // Numbers travel as numbers; everything else as text.
        for (col, array) in batch.columns().iter().enumerate() {
            let numeric = matches!(column_type(array.data_type()), Some(t) if t.is_numeric());
            let target = if numeric {
                DataType::Float64
            } else {
                DataType::Utf8
            };
            let cast = arrow_cast::cast(array, &target).map_err(|e| pq_err(&e))?;
            if numeric {
                let a = cast.as_primitive::<types::Float64Type>();
                for i in 0..a.len() {
                    let row = rows + i as u64;
                    if a.is_null(i) {
                        sink.field(row, col, None);
                    } else {
                        sink.number(row, col, a.value(i));
                    }
                }
            } else {
                let t = cast.as_string::<i32>();
                for i in 0..t.len() {
                    let v = (!t.is_null(i)).then(|| t.value(i));
                    sink.field(rows + i as u64, col, v);
                }
            }
        }
        rows += batch.num_rows() as u64;
        progress(size * batch.num_rows() as u64 / total);
    }
    Ok(rows)
}
