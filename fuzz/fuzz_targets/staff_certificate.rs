#![no_main]
//! Fuzz target `staff_certificate`: see `stadtbote_protocol::fuzzing::staff_certificate`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stadtbote_fuzz::run("staff_certificate", data));
