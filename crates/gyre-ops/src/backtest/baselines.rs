//! The strategies the loop is compared with, on the same rows: the first model forever, a
//! retrain on a fixed schedule, and the online learners; and the windows every strategy is
//! scored on.

use super::Span;
use super::WindowPoint;
use super::models::{Models, Truth};
use super::trainer::Trainer;
use crate::Result;
use gyre_learn::transform::Values;
use gyre_loop::outcome::{Figures, Outcome, figures};

/// The first model's answers on every replayed row.
pub(super) fn never(
    models: &mut Models<'_>,
    replay: std::ops::Range<usize>,
) -> Result<Vec<Option<Outcome>>> {
    replay.map(|i| models.outcome(1, i)).collect()
}

/// A model retrained every `schedule` (rows, or the data's time) on what is labelled by then,
/// with the loop's training window; the answers and the number of retrains.
pub(super) fn fixed_schedule(
    trainer: &Trainer<'_>,
    models: &mut Models<'_>,
    replay: std::ops::Range<usize>,
    due: &dyn Fn(usize, usize) -> bool,
    schedule: Span,
) -> Result<(Vec<Option<Outcome>>, usize)> {
    let times = &trainer.stream.times;
    let mut current = 1i64;
    let mut out = Vec::with_capacity(replay.len());
    let mut last = replay.start;
    let mut retrains = 0;
    let mut labelled = replay.start;
    for i in replay.clone() {
        while labelled < i && due(labelled, i) {
            labelled += 1;
        }
        let time_for = match schedule {
            Span::Rows(every) => {
                every > 0 && i > replay.start && (i - replay.start).is_multiple_of(every)
            }
            Span::Ms(every) => every > 0 && times[i] - times[last] >= every,
        };
        if time_for && labelled > replay.start {
            let (model, _) = trainer.candidate(models, labelled, None)?;
            current = models.add(model)?;
            retrains += 1;
            last = i;
        }
        out.push(models.outcome(current, i)?);
    }
    Ok((out, retrains))
}

#[derive(Clone, Copy)]
pub(super) enum OnlineKind {
    Logistic,
    Forest,
    AdaptiveTree,
}

/// An online learner over the replay: it learns the first model's training rows in order,
/// then each replayed row's label when it arrives, and answers every row with what it knows
/// by then. Its inputs are the first model's.
pub(super) fn online(
    models: &mut Models<'_>,
    replay: std::ops::Range<usize>,
    due: &dyn Fn(usize, usize) -> bool,
    kind: OnlineKind,
) -> Result<Vec<Option<Outcome>>> {
    use gyre_learn::online::{Encoder, Online, arf::Forest, hat::AdaptiveTree, logistic::Logistic};
    let first = &models.versions[0];
    let refs: Vec<&Values> = models.typed[first.inputs].1.iter().collect();
    let classes = &first.model.signature.classes;
    let base: Vec<usize> = (0..replay.start).collect();
    let encoder = Encoder::fit(&refs, &base);
    let mut learner = match kind {
        OnlineKind::Logistic => {
            Online::Logistic(Logistic::new(encoder.width(), classes.len(), 0.01, 0.0))
        }
        OnlineKind::Forest => Online::Forest(Forest::new(encoder.width(), classes.len(), 42)),
        OnlineKind::AdaptiveTree => {
            Online::AdaptiveTree(AdaptiveTree::new(encoder.width(), classes.len(), 42))
        }
    };
    // The class of each row as an index into the first model's classes (None: unlabelled,
    // or a class it never saw).
    let class_of = |r: usize, models: &Models<'_>| match models.truth[r] {
        Some(Truth::Class(t)) => classes.iter().position(|c| c == models.classes.name(t)),
        _ => None,
    };
    let mut x = Vec::with_capacity(encoder.width());
    for &r in &base {
        if let Some(y) = class_of(r, models) {
            encoder.row(&refs, r, &mut x);
            learner.learn(&x, y);
        }
    }
    let positive = models
        .classes
        .positive()
        .and_then(|p| classes.iter().position(|c| c == models.classes.name(p)));
    let ids: Vec<u32> = classes.iter().map(|c| models.classes.ids_of(c)).collect();
    let mut out = Vec::with_capacity(replay.len());
    let mut next = replay.start;
    for i in replay {
        while next < i && due(next, i) {
            if let Some(y) = class_of(next, models) {
                encoder.row(&refs, next, &mut x);
                learner.learn(&x, y);
            }
            next += 1;
        }
        let Some(Truth::Class(truth)) = models.truth[i] else {
            out.push(None);
            continue;
        };
        encoder.row(&refs, i, &mut x);
        let p = learner.predict(&x);
        let best = (0..p.len()).fold(0, |b, k| if p[k] > p[b] { k } else { b });
        out.push(Some(Outcome::Class {
            truth,
            predicted: ids[best.min(ids.len() - 1)],
            score: positive.map_or(f64::NAN, |k| p[k]),
        }));
    }
    Ok(out)
}

/// A strategy's windows of `window` replayed rows, its overall figures and its mean.
pub(super) fn series(
    outcomes: &[Option<Outcome>],
    window: usize,
    positive: Option<u32>,
    metric: &str,
) -> (Vec<WindowPoint>, Figures, f64) {
    let mut windows = Vec::new();
    for (k, chunk) in outcomes.chunks(window).enumerate() {
        // A last window under half full is noise, not a point.
        if chunk.len() * 2 < window {
            break;
        }
        let rows: Vec<Outcome> = chunk.iter().flatten().copied().collect();
        windows.push(WindowPoint {
            row: k * window + chunk.len(),
            figures: figures(&rows, positive),
        });
    }
    let all: Vec<Outcome> = outcomes.iter().flatten().copied().collect();
    let values: Vec<f64> = windows
        .iter()
        .filter_map(|w| w.figures.get(metric).copied())
        .collect();
    let mean = if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    (windows, figures(&all, positive), mean)
}
