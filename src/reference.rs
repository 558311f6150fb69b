//! Where the shared Ceilometer reference (definition files, golden corpus) lives, for tests and
//! benches: `$CEILO_REFERENCE_DIR`, or `shared/ceilometer-reference` beside the checkout or one
//! of its parents (the layout of the workspace, of git worktrees and of CI). Not used by the
//! agent itself.

use std::path::PathBuf;

/// The reference directory; panics with instructions when it cannot be found.
pub fn dir() -> PathBuf {
    std::env::var_os("CEILO_REFERENCE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|dir| dir.join("shared/ceilometer-reference"))
                .find(|dir| dir.is_dir())
        })
        .unwrap_or_else(|| panic!("shared/ceilometer-reference not found (set CEILO_REFERENCE_DIR)"))
}

/// A file of the reference, as text.
pub fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The AMQP bodies (`wire`) of every public corpus case, in file order.
pub fn corpus_bodies() -> Vec<Vec<u8>> {
    read("corpus/public.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let case: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad corpus line: {e}"));
            serde_json::to_vec(&case["wire"]).unwrap_or_else(|e| panic!("bad wire body: {e}"))
        })
        .collect()
}
