//! The fuzz targets' committed corpus (`fuzz/corpus/<target>/`), replayed as ordinary tests:
//! every input that once found a crash, and every seed, must go on being refused or accepted
//! without a panic. `scripts/fuzz` runs the targets themselves.

use std::fs;
use std::path::Path;

#[path = "../fuzz/src/lib.rs"]
mod targets;

#[test]
fn every_committed_fuzz_input_is_handled_without_a_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, target) in targets::TARGETS {
        let dir = corpus.join(name);
        let mut inputs: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{name} has no seed");
        for input in &inputs {
            let data = fs::read(input).unwrap();
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name} panicked on {}", input.display());
        }
        eprintln!("{name}: {} inputs", inputs.len());
        total += inputs.len();
    }
    eprintln!("{total} fuzz inputs replayed");
}
