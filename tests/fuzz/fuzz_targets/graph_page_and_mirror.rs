//! A users delta page: links scanned, objects parsed and merged into a mirror twice, people
//! planned.
//! See `entra_sync::fuzzing::graph_page_and_mirror`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = entra_sync::fuzzing::graph_page_and_mirror(data) {
        panic!("{broken}");
    }
});
