//! Topology + host name -> desired [`crate::state::State`] for that host; one file per driver.
