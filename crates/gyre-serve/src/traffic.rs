//! Traffic windows for monitoring: the champion's watched inputs, predictions, errors and
//! latencies, gathered on the request path (a lock and a few pushes per request) and handed
//! to the monitor as one sample per window, which judges drift, prediction shift, error
//! rate and p99 off the path.

use gyre_data::drift::ColumnSample;
use gyre_learn::model::Predictions;
use gyre_learn::transform::Values;
use gyre_ops::monitor::TrafficSample;
use std::sync::Mutex;
use tokio::sync::mpsc;

pub(crate) struct Traffic {
    /// Input names to watch (empty: every input).
    watch: Vec<String>,
    all_inputs: bool,
    window: u64,
    current: Mutex<Option<Open>>,
    tx: mpsc::Sender<TrafficSample>,
}

struct Open {
    sample: TrafficSample,
    /// Per watched column, its index among the version's inputs.
    index: Vec<Option<usize>>,
}

impl Traffic {
    pub(crate) fn new(
        spec: &gyre_core::monitor::MonitorSpec,
        tx: mpsc::Sender<TrafficSample>,
    ) -> Traffic {
        let (watch, all_inputs) = match &spec.drift {
            Some(d) if !d.columns.is_empty() => (d.columns.clone(), false),
            Some(_) => (Vec::new(), true),
            None => (Vec::new(), false),
        };
        Traffic {
            watch,
            all_inputs,
            window: spec.window.traffic.max(1),
            current: Mutex::new(None),
            tx,
        }
    }

    fn open(&self, served: &crate::Served, now: i64) -> Open {
        let inputs = &served.model.signature.inputs;
        let names: Vec<String> = if self.all_inputs {
            inputs.iter().map(|c| c.name.clone()).collect()
        } else {
            self.watch.clone()
        };
        Open {
            index: names
                .iter()
                .map(|n| inputs.iter().position(|c| c.name == *n))
                .collect(),
            sample: TrafficSample {
                version: served.version,
                role: "champion".into(),
                start_ms: now,
                end_ms: now,
                columns: names
                    .into_iter()
                    .map(|n| (n, ColumnSample::default()))
                    .collect(),
                ..TrafficSample::default()
            },
        }
    }

    fn send(&self, sample: TrafficSample) {
        if self.tx.try_send(sample).is_err() {
            gyre_ops::note!("monitor: a traffic window was not judged (the monitor is behind)");
        }
    }

    /// Records one request of the champion: its rows, or an error when `pred` is None.
    pub(crate) fn observe(
        &self,
        served: &crate::Served,
        inputs: Option<&[Values]>,
        pred: Option<&Predictions>,
        rows: usize,
        latency_ms: f64,
        now: i64,
    ) {
        let Ok(mut guard) = self.current.lock() else {
            return;
        };
        if guard
            .as_ref()
            .is_some_and(|o| o.sample.version != served.version)
            && let Some(done) = guard.take()
        {
            self.send(done.sample);
        }
        let open = guard.get_or_insert_with(|| self.open(served, now));
        let s = &mut open.sample;
        s.end_ms = now;
        s.requests += 1;
        s.latencies_ms.push(latency_ms);
        let (Some(inputs), Some(pred)) = (inputs, pred) else {
            s.errors += 1;
            return;
        };
        for r in 0..rows {
            for ((_, c), i) in s.columns.iter_mut().zip(&open.index) {
                match i.and_then(|i| inputs.get(i)) {
                    Some(Values::Numeric(v)) => match v[r] {
                        Some(x) if x.is_finite() => {
                            c.numbers.push(x);
                            c.values += 1;
                        }
                        Some(_) => c.infinite += 1,
                        None => c.nulls += 1,
                    },
                    Some(Values::Text(v)) => match &v[r] {
                        Some(t) => {
                            *c.counts.entry(t.clone()).or_default() += 1;
                            c.values += 1;
                            c.not_numbers += 1;
                        }
                        None => c.nulls += 1,
                    },
                    None => {}
                }
            }
            let classes = &served.model.signature.classes;
            if classes.is_empty() {
                s.predicted.numbers.push(pred.row(r)[0]);
            } else {
                *s.predicted
                    .counts
                    .entry(classes[pred.class_of(r)].clone())
                    .or_default() += 1;
                s.predicted.not_numbers += 1;
            }
            s.predicted.values += 1;
        }
        s.rows += rows as u64;
        if s.rows >= self.window
            && let Some(done) = guard.take()
        {
            self.send(done.sample);
        }
    }
}
