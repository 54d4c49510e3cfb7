//! A `$batch` answer, read as `batch_get` and the page batcher read it.
//! See `entra_sync::fuzzing::batch_response`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = entra_sync::fuzzing::batch_response(data) {
        panic!("{broken}");
    }
});
