//! The topology file: serde model (+ JSON Schema), loading with file:line:column errors,
//! validation with YAML-path errors, address allocation (IPAM) and interface naming.
