//! Multi-node transport URLs (`rabbit://u:p@h1:port,u:p@h2:port/vhost`) against two real
//! brokers: the agent uses the first node that answers, and when that node dies (`kill -9`)
//! its consumers and its publishers go on with the other one.
//!
//! The two brokers are not clustered (that is `tests/cluster_rabbitmq.rs`): what was queued on
//! the dead one is gone with it, so the test checks where the agent consumes and publishes,
//! not what a cluster keeps.

mod cluster_support;
mod runtime_support;

use std::time::Duration;

use cluster_support::{node_root, Node};
use runtime_support::*;

#[test]
fn consumers_and_publishers_fail_over_to_the_next_node_of_the_url() {
    let root = node_root();
    let mut first = Node::start("f1", root.path());
    let main = Broker::new("failover");
    first.add_vhost(&main.vhost);
    let first_url = first.url(&main.vhost);
    let url = format!(
        "rabbit://guest:guest@127.0.0.1:{},guest:guest@127.0.0.1:5672/{}",
        first.port, main.vhost
    );
    let rt = runtime();
    for broker in [&first_url, &main.url()] {
        rt.block_on(declare_metering(broker));
    }
    let dir = config_dir(&settings(100, 10));
    let agent = Agent::start(dir.path(), &url);

    // Before the loss: everything goes through the first node of the URL.
    rt.block_on(publish(&first_url, &polling_messages("before", 20)));
    let got = rt.block_on(collect(
        &first_url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(20),
    ));
    assert_eq!(
        got.iter().flat_map(|r| meter_messages(&r.body)).count(),
        20,
        "the agent consumed and published on the first node; log:\n{}",
        agent.log_text()
    );
    assert_eq!(
        rt.block_on(ready_count(&main.url(), "metering.sample")),
        0,
        "nothing went to the second node while the first answered"
    );

    first.kill9();
    let lost_at = std::time::Instant::now();
    // After: the same agent consumes from and publishes to the second node.
    rt.block_on(publish(&main.url(), &polling_messages("after", 20)));
    let got = rt.block_on(collect(
        &main.url(),
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(20),
    ));
    let ids: std::collections::HashSet<String> = got
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        ids.len(),
        20,
        "every notification published on the second node came out there; log:\n{}",
        agent.log_text()
    );
    assert!(ids.iter().all(|id| id.starts_with("after-")), "{ids:?}");
    assert!(
        lost_at.elapsed() < Duration::from_secs(20),
        "failover took {:?}",
        lost_at.elapsed()
    );
    let log = agent.log_text();
    assert!(
        log.contains("connected to another node of the cluster") && log.contains("127.0.0.1:5672"),
        "the failover is logged with the node it went to:\n{log}"
    );
    assert!(agent.terminate().success());
}
