//! `compression::decompress` for every codec, output within its limit.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_blocking_fuzz::fuzz_decompress(data));
