//! An admin API request (method line, headers, body) through the real router over a synced
//! in-memory store.
//! See `entra_sync::fuzzing::api_request`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = entra_sync::fuzzing::api_request(data) {
        panic!("{broken}");
    }
});
