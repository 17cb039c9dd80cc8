//! A request body: the first byte selects the type and version (see
//! `kafka_blocking_fuzz::requests`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_blocking_fuzz::fuzz_request(data));
