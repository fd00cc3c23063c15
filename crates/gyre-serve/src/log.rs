//! The prediction log's writer.
//!
//! Requests send their records into a bounded queue; this task commits them in batches. By
//! default it drains the queue every 50 ms, in one transaction of up to 8,192 records (more at
//! once only while the queue holds more than that): it polls rather than waits, so a
//! request's send never has to wake it, and a `kill -9` loses what was answered in the last
//! ~50 ms. With `[serve] log = "durable"` a request also sends an [`LogItem::Ack`] after its
//! records and answers only when it fires, after the commit that holds them; the writer then
//! waits on the queue instead of polling, and commits whatever has gathered meanwhile (group
//! commit: concurrent requests share one transaction).
//!
//! A failed write is retried (the records stay in hand), never dropped. The store keeps each
//! batch as compressed segments; request ids grow, so each segment covers a narrow range of
//! them, which is how a request's records are found again.

use gyre_ops::Project;
use gyre_store::PredictionRecord;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the queue carries.
pub enum LogItem {
    Record(PredictionRecord),
    /// Fires once every record sent before it is committed.
    Ack(oneshot::Sender<()>),
}

const BATCH: usize = 8192;

pub async fn write_log(
    project: Arc<Project>,
    mut rx: mpsc::Receiver<LogItem>,
    mut stop: oneshot::Receiver<()>,
    durable: bool,
) {
    let mut batch: Vec<PredictionRecord> = Vec::with_capacity(BATCH);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    let mut stopping = false;
    loop {
        if !stopping {
            if durable {
                tokio::select! {
                    item = rx.recv() => match item {
                        Some(item) => take(item, &mut batch, &mut acks),
                        None => stopping = true,
                    },
                    _ = &mut stop => { stopping = true; }
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = &mut stop => { stopping = true; }
                }
            }
        }
        loop {
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(item) => take(item, &mut batch, &mut acks),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                let mut wait = Duration::from_millis(50);
                while let Err(e) = project.meta.log_predictions(&batch).await {
                    gyre_ops::note!(
                        "prediction log: writing {} records failed ({e}); retrying",
                        batch.len()
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
            // Every ack taken so far follows records that are now committed.
            for a in acks.drain(..) {
                let _ = a.send(());
            }
            let full = batch.len() == BATCH;
            batch.clear();
            // One commit per tick, unless the queue holds more than a batch (or the server
            // is stopping). Draining again at once committed ~250 times a second under load:
            // each commit an fsync and its pages rewritten in the WAL.
            if !full && !stopping {
                break;
            }
            if stopping && rx.is_empty() {
                break;
            }
        }
        if stopping {
            return;
        }
    }
}

fn take(item: LogItem, batch: &mut Vec<PredictionRecord>, acks: &mut Vec<oneshot::Sender<()>>) {
    match item {
        LogItem::Record(r) => batch.push(r),
        LogItem::Ack(a) => acks.push(a),
    }
}
