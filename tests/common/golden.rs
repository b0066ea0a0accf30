//! The one golden-file helper, for unit tests (included into the library as `crate::golden`)
//! and integration tests (`common::golden`) alike: compare a rendering with
//! `tests/golden/<rel>`, or, with `UPDATE_GOLDEN=1`, rewrite the file (review the diff before
//! committing it). A mismatch is shown as a unified diff.

use std::path::PathBuf;

/// `tests/golden/<rel>` in the repository.
pub fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(rel)
}

/// Whether golden files are being rewritten (`UPDATE_GOLDEN=1`).
fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// `None` when `actual` equals the golden file `rel` (or the file was rewritten), else what
/// differs, as a unified diff headed by the file's path.
pub fn mismatch(rel: &str, actual: &str) -> Option<String> {
    let file = path(rel);
    if updating() {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).expect("creating the golden directory");
        }
        std::fs::write(&file, actual).expect("writing the golden file");
        return None;
    }
    let expected = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => {
            return Some(format!(
                "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
                file.display()
            ));
        }
    };
    if expected == actual {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&expected, actual)
        .unified_diff()
        .header("golden", "actual")
        .to_string();
    Some(format!(
        "{} differs (UPDATE_GOLDEN=1 rewrites it):\n{diff}",
        file.display()
    ))
}

/// Panic with the diff unless `actual` equals the golden file `rel`.
pub fn assert_golden(rel: &str, actual: &str) {
    if let Some(problem) = mismatch(rel, actual) {
        panic!("{problem}");
    }
}
