//! Any request body: the payload readers answer with a value or a problem, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gyre_serve::payload::csv(data);
    let _ = gyre_serve::payload::mlflow_body(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = gyre_serve::payload::v2(&v);
    }
});
