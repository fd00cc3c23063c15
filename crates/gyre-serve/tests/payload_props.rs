//! The payload readers against seeded mutations of valid bodies (byte edits, cuts, repeats):
//! each answers with frames or problems, never a panic. `bench/fuzz.sh` runs the same readers
//! under cargo-fuzz, longer, when a nightly toolchain is at hand.

use gyre_learn::model::{ColumnKind, InputColumn, Signature};
use gyre_serve::payload;

const BODIES: &[&str] = &[
    r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2.5, null]]}}"#,
    r#"{"dataframe_records": [{"a": 1, "b": "x"}, {"a": -2e10, "b": "y"}]}"#,
    r#"{"instances": [{"a": 1, "b": "x"}]}"#,
    r#"{"inputs": {"a": [1, 2], "b": ["x", "y"]}}"#,
    r#"{"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 2]}, {"name": "b", "shape": [2], "datatype": "BYTES", "data": ["x", "y"]}], "id": "r1"}"#,
    "a,b\n1,x\n2,\"y,z\"\n",
];

fn signature() -> Signature {
    Signature {
        inputs: vec![
            InputColumn {
                name: "a".into(),
                kind: ColumnKind::Number,
            },
            InputColumn {
                name: "b".into(),
                kind: ColumnKind::Text,
            },
        ],
        target: "y".into(),
        classes: vec!["0".into(), "1".into()],
    }
}

#[test]
fn mutated_bodies_never_panic() {
    let iterations: usize = std::env::var("GYRE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let sig = signature();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..iterations {
        let mut b = BODIES[i % BODIES.len()].as_bytes().to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() as usize) % b.len().max(1);
            match next() % 3 {
                0 if !b.is_empty() => b[at] = (next() >> 24) as u8,
                1 => b.truncate(at),
                _ => {
                    let piece = b[at..(at + 1 + (next() as usize) % 12).min(b.len())].to_vec();
                    b.splice(at..at, piece);
                }
            }
        }
        let outcome = std::panic::catch_unwind(|| {
            let _ = payload::csv(&b);
            if let Ok(f) = payload::mlflow_body(&b) {
                let _ = payload::typed_with(&sig, &f, false);
                let _ = payload::typed_with(&sig, &f, true);
            }
            let _ = payload::signature_records(&b, &sig);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b)
                && let Ok((f, _)) = payload::v2(&v)
            {
                let _ = payload::typed_with(&sig, &f, false);
            }
        });
        assert!(
            outcome.is_ok(),
            "mutation {i} panicked: {}",
            String::from_utf8_lossy(&b)
        );
    }
}
