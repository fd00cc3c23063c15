//! Streaming CSV profiling: one reader thread splits records and checks them; worker threads
//! parse values and profile them. Memory is bounded by a small queue of batches.

use crate::acc::{Budget, ColumnAcc, Source};
use crate::{DataError, FileProfile, Progress};
use gyre_core::ReadOptions;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// Rows per batch handed to a worker.
const BATCH_ROWS: usize = 4096;

/// Fields of many rows, as one string with field end offsets: one allocation per batch rather
/// than one per field.
struct Batch {
    text: String,
    ends: Vec<usize>,
    /// The data row number (0-based) of the batch's first row.
    first_row: u64,
}

/// Receives the fields of the rows a worker is handed.
pub(crate) trait RowSink: Send {
    /// Field `col` of data row `row` (0-based); `None` when it is a null marker.
    fn field(&mut self, row: u64, col: usize, value: Option<&str>);

    /// A typed number (from Parquet). By default it is handed on as its shortest text.
    fn number(&mut self, row: u64, col: usize, value: f64) {
        self.field(row, col, Some(&format!("{value}")));
    }
}

/// What a scan found besides the sinks' results.
pub(crate) struct Scanned<S> {
    pub names: Vec<String>,
    pub sinks: Vec<S>,
    pub rows: u64,
}

/// Profiles a CSV file.
pub(crate) fn profile_csv(
    path: &Path,
    display: &str,
    opts: &ReadOptions,
    progress: &Progress<'_>,
) -> Result<FileProfile, DataError> {
    struct Profiler {
        accs: Vec<ColumnAcc>,
        budget: Budget,
    }
    impl RowSink for Profiler {
        #[inline]
        fn field(&mut self, _row: u64, col: usize, value: Option<&str>) {
            match value {
                Some(v) => self.accs[col].push_text(v, &self.budget),
                None => self.accs[col].push_null(),
            }
        }
    }
    let workers = rayon::current_num_threads().max(1);
    let scanned = scan_csv(path, display, opts, progress, |names| Profiler {
        accs: (0..names.len())
            .map(|_| ColumnAcc::new(Source::Text))
            .collect(),
        budget: Budget::for_columns(names.len()).split(workers),
    })?;
    let budget = Budget::for_columns(scanned.names.len());
    let mut parts = scanned.sinks.into_iter().map(|p| p.accs);
    let mut accs = parts.next().unwrap_or_default();
    for part in parts {
        for (a, b) in accs.iter_mut().zip(part) {
            a.merge(b, &budget);
        }
    }
    if accs.is_empty() {
        accs = (0..scanned.names.len())
            .map(|_| ColumnAcc::new(Source::Text))
            .collect();
    }
    Ok(FileProfile {
        names: scanned.names,
        accs,
        rows: scanned.rows,
        budget,
    })
}

/// Streams a CSV file's rows to one sink per worker (made by `make_sink(column_names)`),
/// checking every record: field counts, UTF-8, and an unterminated quote at the end.
pub(crate) fn scan_csv<S: RowSink>(
    path: &Path,
    display: &str,
    opts: &ReadOptions,
    progress: &Progress<'_>,
    make_sink: impl Fn(&[String]) -> S + Sync,
) -> Result<Scanned<S>, DataError> {
    let io_err = |source| DataError::Io {
        path: display.to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    if file.metadata().map_err(io_err)?.len() == 0 {
        return Err(DataError::Empty {
            path: display.to_string(),
        });
    }
    let header_err = |message: String| DataError::Header {
        file: display.to_string(),
        message,
    };
    let delimiter = single_byte(opts.delimiter, "delimiter").map_err(header_err)?;
    let quote = single_byte(opts.quote, "quote").map_err(header_err)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quote(quote)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let skip = opts.skip_initial_space;
    let clean = |f: &'_ str| -> String {
        if skip {
            f.trim_start_matches(' ').to_string()
        } else {
            f.to_string()
        }
    };

    let mut rec = csv::ByteRecord::new();
    let read = |rdr: &mut csv::Reader<std::fs::File>, rec: &mut csv::ByteRecord| {
        rdr.read_byte_record(rec).map_err(|e| csv_error(display, e))
    };
    // The first record: the header, or the first data row.
    let has_first = read(&mut rdr, &mut rec)?;
    let first_fields: Vec<String> = if has_first {
        let text = utf8_record(&rec, display, None)?;
        fields_of(&rec, text).map(clean).collect()
    } else {
        Vec::new()
    };
    let names: Vec<String> = match (&opts.columns, opts.header) {
        (Some(cols), true) if has_first && cols.len() != first_fields.len() => {
            return Err(header_err(format!(
                "the header has {} columns but {} names were given",
                first_fields.len(),
                cols.len()
            )));
        }
        (Some(cols), _) => cols.clone(),
        (None, true) if !has_first => {
            return Err(header_err(
                "no header line: the file holds only blank lines".into(),
            ));
        }
        (None, true) => first_fields.clone(),
        (None, false) => (1..=first_fields.len())
            .map(|i| format!("column_{i}"))
            .collect(),
    };
    check_names(&names).map_err(header_err)?;
    let ncols = names.len();
    let nulls: Vec<String> = opts.null_values.clone();

    let workers = rayon::current_num_threads().max(1);
    let (tx, rx) = crossbeam_channel::bounded::<Batch>(workers * 2);
    let (ret_tx, ret_rx) = crossbeam_channel::bounded::<Batch>(workers * 3);

    let mut rows = 0u64;
    let result: Result<Vec<S>, DataError> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                let ret_tx = ret_tx.clone();
                let nulls = &nulls;
                let make_sink = &make_sink;
                let names = &names;
                scope.spawn(move || {
                    let mut sink = make_sink(names);
                    for mut batch in rx {
                        let mut start = 0;
                        for (i, &end) in batch.ends.iter().enumerate() {
                            let mut f = &batch.text[start..end];
                            start = end;
                            if skip {
                                f = f.trim_start_matches(' ');
                            }
                            let row = batch.first_row + (i / ncols) as u64;
                            let value = if nulls.iter().any(|n| n == f) {
                                None
                            } else {
                                Some(f)
                            };
                            sink.field(row, i % ncols, value);
                        }
                        batch.text.clear();
                        batch.ends.clear();
                        let _ = ret_tx.try_send(batch);
                    }
                    sink
                })
            })
            .collect();
        drop(rx);
        drop(ret_tx);

        let outcome = (|| {
            let new_batch = || {
                ret_rx.try_recv().unwrap_or_else(|_| Batch {
                    text: String::with_capacity(1 << 20),
                    ends: Vec::with_capacity(BATCH_ROWS * ncols),
                    first_row: 0,
                })
            };
            let mut batch = new_batch();
            let mut batch_rows = 0usize;
            let mut last_byte = 0u64;
            let mut last_start = (0u64, 1u64);
            let mut pending_first = has_first && !opts.header;
            loop {
                if pending_first {
                    pending_first = false;
                } else if !read(&mut rdr, &mut rec)? {
                    break;
                }
                let pos = rec
                    .position()
                    .expect("records read from a reader have a position");
                last_start = (pos.byte(), pos.line());
                if rec.len() != ncols {
                    let spans_lines = rec.iter().any(|f| f.contains(&b'\n'));
                    return Err(DataError::Ragged {
                        file: display.to_string(),
                        line: pos.line(),
                        expected: ncols,
                        found: rec.len(),
                        hint: if spans_lines {
                            " (a quoted field spans several lines: is a quote left unclosed?)"
                                .into()
                        } else {
                            String::new()
                        },
                    });
                }
                let text = utf8_record(&rec, display, Some(&names))?;
                batch.text.push_str(text);
                let base = batch.text.len() - text.len();
                let mut off = base;
                for f in rec.iter() {
                    off += f.len();
                    batch.ends.push(off);
                }
                rows += 1;
                batch_rows += 1;
                if batch_rows == BATCH_ROWS {
                    let mut next = new_batch();
                    next.first_row = rows;
                    if tx.send(std::mem::replace(&mut batch, next)).is_err() {
                        break;
                    }
                    batch_rows = 0;
                    let byte = pos.byte();
                    progress(byte - last_byte);
                    last_byte = byte;
                }
            }
            if batch_rows > 0 {
                let _ = tx.send(batch);
            }
            check_last_record(path, display, last_start, delimiter, quote)?;
            let total = std::fs::metadata(path)
                .map(|m| m.len())
                .unwrap_or(last_byte);
            progress(total.saturating_sub(last_byte));
            Ok(())
        })();
        drop(tx);
        let sinks: Vec<S> = handles
            .into_iter()
            .map(|h| h.join().expect("a scanning worker panicked"))
            .collect();
        outcome.map(|()| sinks)
    });
    Ok(Scanned {
        names,
        sinks: result?,
        rows,
    })
}

fn single_byte(c: char, what: &str) -> Result<u8, String> {
    if c.is_ascii() {
        Ok(c as u8)
    } else {
        Err(format!("the {what} must be one ASCII character, not `{c}`"))
    }
}

fn check_names(names: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Err("no columns".into());
    }
    let mut seen = std::collections::HashSet::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(format!("column {} has an empty name", i + 1));
        }
        if !seen.insert(n) {
            return Err(format!("column name `{n}` appears twice"));
        }
    }
    Ok(())
}

fn fields_of<'a>(rec: &'a csv::ByteRecord, text: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut start = 0;
    rec.iter().map(move |f| {
        let s = &text[start..start + f.len()];
        start += f.len();
        s
    })
}

/// The record's fields as one `&str`, or an error naming the line and column of the first
/// invalid byte.
fn utf8_record<'a>(
    rec: &'a csv::ByteRecord,
    display: &str,
    names: Option<&[String]>,
) -> Result<&'a str, DataError> {
    std::str::from_utf8(rec.as_slice()).map_err(|e| {
        let bad = e.valid_up_to();
        let mut start = 0;
        let mut column = rec.len();
        for (i, f) in rec.iter().enumerate() {
            if bad < start + f.len() {
                column = i + 1;
                break;
            }
            start += f.len();
        }
        DataError::InvalidUtf8 {
            file: display.to_string(),
            line: rec.position().map(|p| p.line()).unwrap_or(0),
            column,
            name: names
                .and_then(|n| n.get(column - 1).cloned())
                .unwrap_or_else(|| "header".into()),
            byte: bad - start + 1,
        }
    })
}

fn csv_error(display: &str, e: csv::Error) -> DataError {
    let line = e.position().map(|p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(source) => DataError::Io {
            path: display.to_string(),
            source,
        },
        other => DataError::Header {
            file: display.to_string(),
            message: format!("line {}: {other:?}", line.unwrap_or(0)),
        },
    }
}

/// A quote left open swallows the rest of the file into the last record, which the CSV reader
/// accepts without complaint. Scan that record's raw bytes to tell.
fn check_last_record(
    path: &Path,
    display: &str,
    (start, line): (u64, u64),
    delimiter: u8,
    quote: u8,
) -> Result<(), DataError> {
    let io_err = |source| DataError::Io {
        path: display.to_string(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io_err)?;
    f.seek(SeekFrom::Start(start)).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(1 << 16, f);
    let (mut in_quotes, mut at_field_start, mut pending_quote) = (false, true, false);
    let (mut cur_line, mut column) = (line, 1usize);
    let (mut open_line, mut open_column) = (line, 1usize);
    loop {
        let buf = reader.fill_buf().map_err(io_err)?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        for &b in buf {
            if in_quotes {
                if pending_quote {
                    pending_quote = false;
                    if b == quote {
                        continue; // an escaped quote
                    }
                    in_quotes = false;
                } else if b == quote {
                    pending_quote = true;
                    continue;
                } else {
                    if b == b'\n' {
                        cur_line += 1;
                    }
                    continue;
                }
            }
            if b == b'\n' {
                return Ok(()); // the record ended on a line break outside quotes
            }
            if b == delimiter {
                column += 1;
                at_field_start = true;
                continue;
            }
            if at_field_start && b == quote {
                in_quotes = true;
                (open_line, open_column) = (cur_line, column);
            }
            at_field_start = false;
        }
        reader.consume(n);
    }
    if in_quotes && !pending_quote {
        return Err(DataError::UnterminatedQuote {
            file: display.to_string(),
            line: open_line,
            column: open_column,
        });
    }
    Ok(())
}
