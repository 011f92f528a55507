//! The Python reference values of `testdata/metrics_cases.json` (written by the notebooks'
//! own functions), read by the ranking and text metric tests.

use serde_json::Value;

pub const TOLERANCE: f64 = 1e-9;
const FIXTURE: &str = include_str!("../testdata/metrics_cases.json");

pub fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() <= TOLERANCE, "{what}: got {actual}, expected {expected}");
}

pub fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("metrics_cases.json is valid JSON")
}

pub fn as_f64(value: &Value) -> f64 {
    value.as_f64().expect("a number")
}

pub fn as_u32(value: &Value) -> u32 {
    u32::try_from(value.as_u64().expect("an unsigned integer")).expect("fits u32")
}

pub fn scored_list(value: &Value) -> Vec<(u32, f64)> {
    value
        .as_array()
        .expect("an array of pairs")
        .iter()
        .map(|pair| (as_u32(&pair[0]), as_f64(&pair[1])))
        .collect()
}

pub fn u32_list(value: &Value) -> Vec<u32> {
    value.as_array().expect("an array").iter().map(as_u32).collect()
}

pub fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}
