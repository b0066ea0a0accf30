//! The kernel layer: network namespace handles, one rtnetlink connection per namespace,
//! observe (dumps -> State), execute (plan Step -> netlink requests), ownership marks.
