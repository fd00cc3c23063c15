//! Tracked runs: what was done, with which parameters, what it measured, what it read and
//! made. Every later feature (training, pipelines, tuning, retraining) records into runs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A run's id: 32 hex digits (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// A new id from 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> RunId {
        RunId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn short(&self) -> &str {
        &self.0[..8]
    }
}

impl FromStr for RunId {
    type Err = crate::CoreError;
    /// A full id; prefixes are resolved by the store.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(RunId(s.to_string()))
        } else {
            Err(crate::CoreError::InvalidHash(s.to_string()))
        }
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    /// The process died without ending the run (found dead by a later command).
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Killed => "killed",
        }
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "running" => RunStatus::Running,
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            "killed" => RunStatus::Killed,
            other => return Err(format!("unknown run status `{other}`")),
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measurement. NaN and ±Inf are kept exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub step: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    #[serde(with = "exact_f64")]
    pub value: f64,
}

/// Serialises floats JSON cannot hold (NaN, ±Inf) as the strings "NaN", "Infinity",
/// "-Infinity".
pub mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if *v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            F(f64),
            S(String),
        }
        match Num::deserialize(d)? {
            Num::F(f) => Ok(f),
            Num::S(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!("not a number: `{other}`"))),
            },
        }
    }
}

/// [`exact_f64`] for optional values (`None` stays `null`).
pub mod exact_f64_opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Exact(#[serde(with = "super::exact_f64")] f64);

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Exact).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Exact>::deserialize(d)?.map(|e| e.0))
    }
}

/// A new run, as its process starts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewRun {
    pub id: RunId,
    pub name: String,
    pub parent: Option<RunId>,
    pub started_ms: i64,
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time as the OS counts it, so a reused pid is not mistaken for it.
    pub pid_start: u64,
    pub git_commit: Option<String>,
    pub git_dirty: bool,
}

/// A run as stored: how it started, and what happened since.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    #[serde(flatten)]
    pub start: NewRun,
    pub status: RunStatus,
    pub ended_ms: Option<i64>,
    pub note: String,
    pub params: std::collections::BTreeMap<String, String>,
    pub tags: std::collections::BTreeMap<String, String>,
    /// The last value logged for each metric.
    #[serde(with = "exact_map")]
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

impl Run {
    pub fn duration_ms(&self) -> Option<i64> {
        self.ended_ms.map(|e| e - self.start.started_ms)
    }
}

mod exact_map {
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    #[derive(serde::Serialize, Deserialize)]
    struct Exact(#[serde(with = "super::exact_f64")] f64);

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(m.len()))?;
        for (k, v) in m {
            map.serialize_entry(k, &Exact(*v))?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let m: BTreeMap<String, Exact> = BTreeMap::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_floats_survive_json() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.1, -0.0] {
            let p = MetricPoint {
                step: 1,
                timestamp_ms: 2,
                value: v,
            };
            let back: MetricPoint =
                serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
            assert_eq!(back.value.to_bits(), v.to_bits(), "{v}");
        }
    }
}
