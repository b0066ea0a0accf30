//! The JSON Schema of the topology file, generated from the serde model's doc comments and
//! documented defaults. Checked in at `schema/topology.schema.json`; a test keeps it fresh.

use super::model::Topology;

/// Pretty-printed JSON Schema of topology version 1, with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Topology);
    // Serializing a `Schema` (a JSON value) cannot fail; fall back to an empty object anyway
    // rather than panic.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn checked_in_schema_is_fresh() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/topology.schema.json");
        let want = schema_json();
        if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().expect("schema path has a parent"))
                .expect("create schema dir");
            std::fs::write(&path, &want).expect("write schema");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale; regenerate with `cargo run -- schema > schema/topology.schema.json` \
             or `UPDATE_SCHEMA=1 cargo test checked_in_schema_is_fresh`",
            path.display()
        );
    }

    #[test]
    fn schema_documents_defaults() {
        let json = schema_json();
        assert!(json.contains("\"default\": 4789"), "port default missing");
        assert!(
            json.contains("\"default\": 24"),
            "host_prefix default missing"
        );
        assert!(json.contains("\"additionalProperties\": false"));
    }
}
