//! The fleet plan on a small two-version fleet (tests/fixtures/fleet: a host added, one removed,
//! a container added, a port published): golden text and JSON, what added and removed hosts get,
//! an unchanged fleet, the JSON document's shape, and threads not changing the result.

use super::*;
use crate::golden::assert_golden as compare_golden;
use crate::plan::Action;

const V1: &str = include_str!("../../tests/fixtures/fleet/v1.yaml");
const V2: &str = include_str!("../../tests/fixtures/fleet/v2.yaml");

fn load(text: &str) -> Topology {
    crate::topology::load_str(text, "fleet.yaml").expect("valid fixture")
}

fn host<'a>(fleet: &'a FleetPlan, name: &str) -> &'a HostPlan {
    fleet
        .hosts
        .iter()
        .find(|h| h.host == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

#[test]
fn golden_two_versions() {
    let fleet = plan_fleet(Some(&load(V1)), &load(V2)).expect("fleet plan");
    compare_golden("fleet/v1-to-v2.txt", &render_text(&fleet));
    compare_golden("fleet/v1-to-v2.json", &render_json(&fleet));
}

#[test]
fn hosts_of_both_versions_in_name_order_with_their_status() {
    let fleet = plan_fleet(Some(&load(V1)), &load(V2)).expect("fleet plan");
    let hosts: Vec<(&str, HostStatus)> = fleet
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.status))
        .collect();
    assert_eq!(
        hosts,
        [
            ("cache-1", HostStatus::Added),
            ("db-1", HostStatus::Removed),
            ("web-1", HostStatus::Kept),
            ("web-2", HostStatus::Kept),
        ]
    );
}

#[test]
fn a_removed_host_has_everything_it_owns_destroyed_and_nothing_created() {
    let v1 = load(V1);
    let fleet = plan_fleet(Some(&v1), &load(V2)).expect("fleet plan");
    let db = host(&fleet, "db-1");
    assert!(db.changes());
    assert!(db.plan.steps.iter().all(|s| s.action() == Action::Delete));
    // Every owned object of db-1 is either deleted by a step or taken along by one (a
    // namespace's contents, a bridge's address): nothing of it is left behind.
    let compiled = crate::compile::compile(&v1, "db-1").expect("compile");
    let deleted: Vec<_> = db.plan.steps.iter().map(|s| s.key()).collect();
    let swept: Vec<_> = db
        .plan
        .side_effects
        .iter()
        .map(|e| e.object.clone())
        .collect();
    for (key, object) in &compiled.objects {
        if object.owned() {
            assert!(
                deleted.contains(key) || swept.contains(key),
                "{key} of the removed host is left behind"
            );
        }
    }
}

#[test]
fn an_added_host_gets_its_whole_desired_state() {
    let v2 = load(V2);
    let fleet = plan_fleet(Some(&load(V1)), &v2).expect("fleet plan");
    let cache = host(&fleet, "cache-1");
    assert!(
        cache
            .plan
            .steps
            .iter()
            .all(|s| s.action() == Action::Create)
    );
    let compiled = crate::compile::compile(&v2, "cache-1").expect("compile");
    // One step per object, except a veth pair's second end, which its pair's step creates.
    let peers = cache
        .plan
        .steps
        .iter()
        .filter(|s| s.peer().is_some())
        .count();
    assert_eq!(cache.plan.steps.len() + peers, compiled.len());
}

#[test]
fn without_a_base_every_host_is_new() {
    let v2 = load(V2);
    let fleet = plan_fleet(None, &v2).expect("fleet plan");
    assert_eq!(fleet.hosts.len(), 3);
    assert!(fleet.hosts.iter().all(|h| h.status == HostStatus::Added));
    let sum = fleet.summary();
    assert_eq!((sum.changing, sum.change, sum.destroy), (3, 0, 0));
    assert!(sum.add > 0);
}

#[test]
fn the_same_version_twice_changes_nothing() {
    let fleet = plan_fleet(Some(&load(V1)), &load(V1)).expect("fleet plan");
    assert!(!fleet.changes());
    assert_eq!(
        render_text(&fleet),
        "No changes on 3 hosts: db-1, web-1, web-2.\n\n\
         Fleet: 0 of 3 hosts change; 0 to add, 0 to change, 0 to destroy.\n"
    );
}

#[test]
fn many_unchanged_hosts_are_named_up_to_a_limit_then_counted() {
    let fleet = FleetPlan {
        hosts: (0..25)
            .map(|i| HostPlan {
                host: format!("h{i:02}"),
                status: HostStatus::Kept,
                plan: Plan::default(),
            })
            .collect(),
    };
    let text = render_text(&fleet);
    assert!(
        text.starts_with("No changes on 25 hosts: h00, h01,"),
        "{text}"
    );
    assert!(text.contains("h19 and 5 more.\n"), "{text}");
    assert!(!text.contains("h20"), "{text}");
}

#[test]
fn json_embeds_each_hosts_plan_document_and_sums_them() {
    let fleet = plan_fleet(Some(&load(V1)), &load(V2)).expect("fleet plan");
    let doc: serde_json::Value = serde_json::from_str(&render_json(&fleet)).expect("JSON");
    assert_eq!(doc["format_version"], "1");
    let hosts = doc["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), fleet.hosts.len());
    let (mut add, mut destroy) = (0, 0);
    for (json, plan) in hosts.iter().zip(&fleet.hosts) {
        assert_eq!(json["host"], plan.host.as_str());
        assert_eq!(json["status"], plan.status.as_str());
        assert_eq!(json["changes"], plan.changes());
        // Exactly what `plan --json` prints for that plan.
        let alone: serde_json::Value =
            serde_json::from_str(&crate::plan::render_json(&plan.plan)).expect("plan JSON");
        assert_eq!(json["plan"], alone);
        add += json["plan"]["summary"]["add"].as_u64().expect("add");
        destroy += json["plan"]["summary"]["destroy"]
            .as_u64()
            .expect("destroy");
    }
    let summary = &doc["summary"];
    assert_eq!(summary["hosts"], 4);
    assert_eq!(summary["changing"], 4);
    assert_eq!(summary["add"], add);
    assert_eq!(summary["destroy"], destroy);
    assert_eq!(summary["change"], 0);
    let keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["format_version", "hosts", "summary"]);
}

#[test]
fn threads_do_not_change_the_result() {
    let (v1, v2) = (load(V1), load(V2));
    let one = plan_fleet_on(Some(&v1), &v2, 1).expect("one thread");
    let many = plan_fleet_on(Some(&v1), &v2, 3).expect("three threads");
    assert_eq!(render_json(&one), render_json(&many));
}

#[test]
fn a_named_scope_plans_its_own_nftables_table() {
    let scoped = format!("name: shop\n{V1}");
    let fleet = plan_fleet(None, &load(&scoped)).expect("fleet plan");
    let text = render_text(&fleet);
    assert!(
        text.contains("nft_table host/inet netplan-rs-shop"),
        "{text}"
    );
    assert!(!text.contains("host/netplan-rs/"), "{text}");
}

#[test]
fn batches_and_threads_keep_name_order_and_results() {
    // More hosts than one batch of one thread (16): batches must join up in order.
    let mut yaml = String::from("version: 1\nhosts:\n");
    for h in 0..40 {
        yaml.push_str(&format!(
            "  n{h:02}: {{underlay: 10.1.0.{}/24, interface: eth0}}\n",
            h + 1
        ));
    }
    yaml.push_str("networks:\n  pods: {driver: host-gw, subnet: 10.200.0.0/16, host_prefix: 24}\ncontainers:\n");
    for h in 0..40 {
        yaml.push_str(&format!("  c{h}: {{host: n{h:02}, network: pods}}\n"));
    }
    let new = load(&yaml);
    let one = plan_fleet_on(None, &new, 1).expect("one thread");
    let names: Vec<String> = (0..40).map(|h| format!("n{h:02}")).collect();
    let got: Vec<String> = one.hosts.iter().map(|h| h.host.clone()).collect();
    assert_eq!(got, names);
    let three = plan_fleet_on(None, &new, 3).expect("three threads");
    assert_eq!(render_text(&one), render_text(&three));
    // Each host routes to the 39 others.
    assert!(one.hosts.iter().all(|h| {
        h.plan
            .steps
            .iter()
            .filter(|s| s.key().kind() == "route" && s.key().ns() == crate::state::Ns::Host)
            .count()
            == 39
    }));
}
