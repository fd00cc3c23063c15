//! Any bytes: decoding refuses them or yields a model that predicts without a panic.
#![no_main]

use gyre_learn::model::Model;
use gyre_learn::transform::Values;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Behind a valid header and checksum, so the fuzzer reaches the body's decoder.
    let mut bytes = b"GYREMODL".to_vec();
    bytes.extend_from_slice(&gyre_learn::model::FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
    bytes.extend_from_slice(blake3::hash(data).as_bytes());
    bytes.extend_from_slice(data);
    if let Ok(m) = Model::from_bytes(&bytes) {
        let inputs: Vec<Values> = m
            .signature
            .inputs
            .iter()
            .map(|c| match c.kind {
                gyre_learn::model::ColumnKind::Number => Values::Numeric(vec![Some(1.0), None]),
                gyre_learn::model::ColumnKind::Text => Values::Text(vec![Some("a".into()), None]),
            })
            .collect();
        let refs: Vec<&Values> = inputs.iter().collect();
        let _ = m.predict(&refs, &[0, 1]);
    }
});
