//! Long metric series cut down for a chart: a browser cannot draw 100,000 points per curve
//! without freezing, and a screen has about a thousand pixels across anyway.

use crate::MetricPoint;

/// At most `max` of `points` (in step order) that draw the same picture: the first and last
/// points, and, of the points between cut into `(max - 2) / 2` runs of consecutive points,
/// each run's lowest and highest point, in their order. Unlike averaging or taking every k-th
/// point, a single spike survives, which is what a reader of a loss curve looks for. NaN
/// points are kept only where a run holds nothing else. Returns every point when there are
/// at most `max`.
pub fn downsample(points: &[MetricPoint], max: usize) -> Vec<MetricPoint> {
    let max = max.max(4);
    if points.len() <= max {
        return points.to_vec();
    }
    let inner = &points[1..points.len() - 1];
    let buckets = (max - 2) / 2;
    let mut out = Vec::with_capacity(max);
    out.push(points[0]);
    for b in 0..buckets {
        // Bucket bounds by index, so every bucket holds about the same number of points.
        let lo = b * inner.len() / buckets;
        let hi = (b + 1) * inner.len() / buckets;
        let run = &inner[lo..hi];
        if run.is_empty() {
            continue;
        }
        let mut low: Option<usize> = None;
        let mut high: Option<usize> = None;
        for (i, p) in run.iter().enumerate() {
            if p.value.is_nan() {
                continue;
            }
            if low.is_none_or(|l| p.value < run[l].value) {
                low = Some(i);
            }
            if high.is_none_or(|h| p.value > run[h].value) {
                high = Some(i);
            }
        }
        match (low, high) {
            (Some(l), Some(h)) if l == h => out.push(run[l]),
            (Some(l), Some(h)) => {
                out.push(run[l.min(h)]);
                out.push(run[l.max(h)]);
            }
            _ => out.push(run[0]),
        }
    }
    out.push(points[points.len() - 1]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<MetricPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| MetricPoint {
                step: i as i64,
                timestamp_ms: 1000 + i as i64,
                value,
            })
            .collect()
    }

    #[test]
    fn short_series_are_kept_whole() {
        let s = series(&[1.0, 2.0, 3.0]);
        assert_eq!(downsample(&s, 10), s);
    }

    #[test]
    fn a_spike_survives_and_the_count_is_bounded() {
        let mut values = vec![1.0; 100_000];
        values[54_321] = 50.0;
        values[77_000] = -3.0;
        let s = series(&values);
        let d = downsample(&s, 1000);
        assert!(d.len() <= 1000, "{}", d.len());
        assert!(d.iter().any(|p| p.step == 54_321 && p.value == 50.0));
        assert!(d.iter().any(|p| p.step == 77_000 && p.value == -3.0));
        // In step order, first and last buckets represented.
        assert!(d.windows(2).all(|w| w[0].step < w[1].step));
        assert_eq!(d[0].step, 0);
        assert_eq!(
            d.last().unwrap().step,
            99_999,
            "the curve ends where the series does"
        );
    }

    #[test]
    fn nan_points_stay_only_where_nothing_else_is() {
        let mut values = vec![0.0];
        values.extend([f64::NAN; 10]);
        values.extend([
            2.0,
            f64::NAN,
            1.0,
            3.0,
            f64::NAN,
            0.5,
            4.0,
            2.0,
            1.0,
            1.0,
            7.0,
        ]);
        let d = downsample(&series(&values), 6);
        // The first and last points, and two buckets between: the first all NaN (one point
        // kept), the second its min and max.
        assert_eq!(d.len(), 5, "{d:?}");
        assert_eq!(d[0].step, 0);
        assert!(d[1].value.is_nan());
        assert_eq!((d[2].step, d[2].value), (16, 0.5));
        assert_eq!((d[3].step, d[3].value), (17, 4.0));
        assert_eq!((d[4].step, d[4].value), (21, 7.0));
    }
}
