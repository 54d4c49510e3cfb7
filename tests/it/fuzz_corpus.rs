//! The fuzz targets' committed corpora (`tests/fuzz/corpus/<target>/`) and every input that once
//! broke one (`tests/fuzz/regressions/<target>/`), replayed through the functions the targets
//! call: none may panic or break an invariant, and the seeds are classified as they should be.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use entra_sync::fuzzing::{self, Broken, Verdict};

type Target = fn(&[u8]) -> Result<Verdict, Broken>;

const TARGETS: [(&str, Target); 4] = [
    ("config_and_mapping", fuzzing::config_and_mapping),
    ("graph_page_and_mirror", fuzzing::graph_page_and_mirror),
    ("batch_response", fuzzing::batch_response),
    ("api_request", fuzzing::api_request),
];

/// Seeds and how their target must take them.
const EXPECTED: &[(&str, &str, Verdict)] = &[
    ("config_and_mapping", "example.toml", Verdict::Accepted),
    ("config_and_mapping", "demo.toml", Verdict::Accepted),
    (
        "config_and_mapping",
        "demo_with_environment.toml",
        Verdict::Accepted,
    ),
    (
        "config_and_mapping",
        "valid_minimal.toml",
        Verdict::Accepted,
    ),
    (
        "config_and_mapping",
        "invalid_01_unknown_key.toml",
        Verdict::Rejected,
    ),
    (
        "config_and_mapping",
        "invalid_19_three_problems.toml",
        Verdict::Rejected,
    ),
    (
        "config_and_mapping",
        "invalid_27_nul_in_names.toml",
        Verdict::Rejected,
    ),
    (
        "graph_page_and_mirror",
        "emulator-users-delta-0.json",
        Verdict::Accepted,
    ),
    (
        "graph_page_and_mirror",
        "emulator-users-delta-4.json",
        Verdict::Accepted,
    ),
    (
        "graph_page_and_mirror",
        "emulator-groups-delta-0.json",
        Verdict::Accepted,
    ),
    (
        "graph_page_and_mirror",
        "removals-and-manager.json",
        Verdict::Accepted,
    ),
    ("batch_response", "emulator-users.json", Verdict::Accepted),
    (
        "batch_response",
        "throttled-and-failing.json",
        Verdict::Accepted,
    ),
    ("api_request", "connections-admin", Verdict::Accepted),
    // An agent with no grant on the connection: 404, as for one that does not exist.
    ("api_request", "status-agent", Verdict::Rejected),
    ("api_request", "log", Verdict::Accepted),
    ("api_request", "preview", Verdict::Accepted),
    ("api_request", "bad-key", Verdict::Rejected),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// The files directly in `dir` (none when it does not exist), by name.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_replays_without_a_panic_or_a_broken_invariant() {
    let mut failures = Vec::new();
    let mut verdicts: BTreeMap<(&str, String), Verdict> = BTreeMap::new();
    for (target, run) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(target));
        let regressions = inputs(&fuzz_dir().join("regressions").join(target));
        assert!(!corpus.is_empty(), "{target} has no corpus");
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("an input");
            match catch_unwind(AssertUnwindSafe(|| run(&data))) {
                Ok(Ok(verdict)) => {
                    let name = file.file_name().expect("a name").to_string_lossy();
                    verdicts.insert((target, name.into_owned()), verdict);
                }
                Ok(Err(broken)) => failures.push(format!("{}: {broken}", file.display())),
                Err(_) => failures.push(format!("{}: panicked", file.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (target, name, want) in EXPECTED {
        assert_eq!(
            verdicts.get(&(*target, (*name).to_owned())),
            Some(want),
            "{target}/{name}"
        );
    }
}
