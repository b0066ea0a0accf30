//! The lab: simulated hosts in network namespaces joined by a switch namespace.
