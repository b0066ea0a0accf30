//! The topology file: serde model (+ JSON Schema), loading with file:line:column errors,
//! validation with YAML-path errors, address allocation (IPAM) and interface naming.

mod default_route;
pub mod depth;
mod entry_errors;
mod error;
mod events;
mod expected;
mod external_netns;
pub mod ipam;
pub mod ipam6;
mod ipany;
mod ipv4;
mod load;
pub mod locate;
pub mod macvlan;
pub mod membership;
mod model;
pub mod naming;
mod network_de;
mod pick;
pub mod policy;
pub mod ports;
pub mod routed;
pub mod schema;
mod slices;
pub mod source;
mod unique_keys;
mod validate;
mod validate6;
mod validate_host_gw;
mod validate_policy;

#[cfg(test)]
pub(crate) mod tests;

pub use error::{Diagnostic, ParseContext, Span, TopologyError};
pub use ipam::{Addressing, Attachment, attachments, slice};
pub use load::{load, load_str};
pub use macvlan::{MacvlanMode, MacvlanNetwork};
pub use model::*;
pub use naming::underlay_interface;
pub use routed::{Encapsulation, RoutedNetwork};
pub use schema::schema_json;
pub use validate::validate;
