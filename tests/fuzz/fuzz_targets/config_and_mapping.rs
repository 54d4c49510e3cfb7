//! A configuration file (and `#! ENTRA_SYNC__…` environment lines), loaded, validated and its
//! mappings compiled; a usable one plans a sample person.
//! See `entra_sync::fuzzing::config_and_mapping`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = entra_sync::fuzzing::config_and_mapping(data) {
        panic!("{broken}");
    }
});
