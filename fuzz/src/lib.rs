//! Shared glue of the fuzz targets: runs a harness of
//! `stadtbote_protocol::fuzzing` and turns a broken invariant into a panic,
//! which is how libFuzzer learns that an input is a finding.

use stadtbote_protocol::fuzzing::{self, FuzzResult};

/// Runs the harness `name` on `data`; panics on a broken invariant.
pub fn run(name: &str, data: &[u8]) {
    let Some(harness) = fuzzing::harness(name) else {
        panic!("no harness named {name}");
    };
    let result: FuzzResult = harness(data);
    if let Err(violation) = result {
        panic!("{name}: {violation}");
    }
}
