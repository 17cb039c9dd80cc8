//! The `Records` bytes of a fetch: `decode_batches` with CRC checks on and off.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_blocking_fuzz::fuzz_record_batches(data));
