//! ceilo on a real 3-node RabbitMQ cluster with quorum queues (`tests/cluster_support`: three
//! extra nodes beside the main broker, started once for this binary and handed to one test at
//! a time), loaded and checked by loadgen (in-process, `--quorum`): every input notification
//! must come out complete; what the agent redelivers after a loss is counted as duplicates and
//! must stay within what it held unacked (prefetch per consumed queue).
//!
//! loadgen publishes and collects through the third node, which no test stops; the agents are
//! given the nodes in the URL's order, so they connect to the first one, the one the node tests
//! stop. The agents declare the notification queues first, so those quorum queues' leaders are
//! on that node too: its loss is a leader election as well as a lost connection.

mod cluster_support;
mod coordination_support;
mod runtime_support;

use std::time::{Duration, Instant};

use clap::Parser;
use cluster_support::{Cluster, ClusterVhost};
use runtime_support::{config_dir, metric, runtime, settings, wait_until, Agent, STATEFUL_PIPELINE};
use serde_json::Value as Json;

/// Deliveries the agent may hold unacked per consumed queue: what it can redeliver after a
/// loss, per queue.
const PREFETCH: u16 = 50;
/// The notification queues an agent consumes (`notifications.<priority>`).
const QUEUES: u64 = 7;

#[derive(Parser)]
struct Steady {
    #[command(flatten)]
    args: loadgen::modes::steady::Args,
}

#[derive(Parser)]
struct Preload {
    #[command(flatten)]
    args: loadgen::modes::preload::Args,
}

/// ceilo.yaml for the cluster: quorum queues, small prefetch and batches.
fn agent_settings() -> String {
    format!("rabbit:\n  quorum_queue: true\n{}", settings(PREFETCH, 10))
}

/// The flags every loadgen run here shares: the quorum topology, through node 3, bounded.
fn loadgen_args(cluster: &Cluster, vhost: &ClusterVhost) -> Vec<String> {
    [
        "--url",
        &cluster.nodes[2].url(&vhost.name),
        "--quorum",
        "--quiet",
        "--seed",
        "20",
        "--max-time",
        "150",
        // After a node loss, a quorum queue elects a leader before anything moves again.
        "--settle",
        "20",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs a loadgen mode on its own runtime and thread; the report as JSON.
fn spawn_loadgen<F>(run: F) -> std::thread::JoinHandle<Json>
where
    F: std::future::Future<Output = anyhow::Result<loadgen::report::Report>> + Send + 'static,
{
    std::thread::spawn(move || {
        let report = runtime().block_on(run).expect("loadgen run");
        serde_json::to_value(&report).expect("report as JSON")
    })
}

fn steady(cluster: &Cluster, vhost: &ClusterVhost, rate: u32, seconds: u32) -> std::thread::JoinHandle<Json> {
    let mut argv = vec!["steady".to_owned(), "--rate".into(), rate.to_string()];
    argv.extend(["--duration".into(), seconds.to_string()]);
    argv.extend(loadgen_args(cluster, vhost));
    let args = Steady::parse_from(argv).args;
    spawn_loadgen(loadgen::modes::steady::run(args))
}

fn preload(cluster: &Cluster, vhost: &ClusterVhost, count: u64) -> std::thread::JoinHandle<Json> {
    let mut argv = vec!["preload".to_owned(), "--count".into(), count.to_string()];
    argv.extend(loadgen_args(cluster, vhost));
    let args = Preload::parse_from(argv).args;
    spawn_loadgen(loadgen::modes::preload::run(args))
}

fn n(r: &Json, k: &str) -> u64 {
    r[k].as_u64()
        .unwrap_or_else(|| panic!("report has no {k}: {r:#}"))
}

/// Every message published came out complete: nothing lost, nothing partial or unexpected.
fn assert_no_loss(r: &Json, logs: &str) {
    let sent = n(r, "messages_in");
    assert!(sent > 0, "{r:#}");
    assert_eq!(n(r, "messages_refused"), 0, "{r:#}");
    assert_eq!(n(r, "messages_lost"), 0, "{r:#}\n{logs}");
    assert_eq!(n(r, "messages_partial"), 0, "{r:#}\n{logs}");
    assert_eq!(n(r, "missing_records"), 0, "{r:#}\n{logs}");
    assert_eq!(n(r, "messages_complete"), sent, "{r:#}\n{logs}");
    assert_eq!(n(r, "unexpected_records"), 0, "{r:#}");
    assert_eq!(n(r, "undecodable_out"), 0, "{r:#}");
}

/// Ready messages and consumers of `queue` now (a passive declare); `None` before it exists.
async fn queue_state(url: &str, queue: &str) -> Option<(u64, u64)> {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .ok()?;
    let ch = conn.create_channel().await.ok()?;
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = ch.queue_declare(queue.into(), passive, Default::default()).await;
    let _ = conn.close(200, "bye".into()).await;
    q.ok()
        .map(|q| (u64::from(q.message_count()), u64::from(q.consumer_count())))
}

/// The notification queues hold `count` ready messages (loadgen's preload is done).
fn wait_queued(cluster: &Cluster, vhost: &ClusterVhost, count: u64) {
    let url = cluster.nodes[2].url(&vhost.name);
    let rt = runtime();
    wait_until("the preload queued", Duration::from_secs(90), || {
        let queued: u64 = ["audit", "critical", "debug", "error", "info", "sample", "warn"]
            .iter()
            .filter_map(|p| rt.block_on(queue_state(&url, &format!("notifications.{p}"))))
            .map(|(ready, _)| ready)
            .sum();
        queued >= count
    });
}

/// Starts an agent on every node of the cluster (in the URL's order) with its own config dir.
fn start_agent(cluster: &Cluster, vhost: &ClusterVhost) -> (tempfile::TempDir, Agent) {
    let dir = config_dir(&agent_settings());
    let agent = Agent::start(dir.path(), &cluster.url(&vhost.name));
    (dir, agent)
}

/// Waits until the agent consumes (it has declared its queues, on the first node).
fn wait_consuming(cluster: &Cluster, vhost: &ClusterVhost) {
    let url = cluster.nodes[0].url(&vhost.name);
    let rt = runtime();
    wait_until("the agent consuming", Duration::from_secs(60), || {
        rt.block_on(queue_state(&url, "notifications.info"))
            .is_some_and(|(_, consumers)| consumers > 0)
    });
}

/// How long after `since` the agent logged its move to another node.
fn wait_failover(agent: &Agent, since: Instant, bound: Duration) -> Duration {
    wait_until("the agent connecting to another node", bound, || {
        agent
            .log_text()
            .contains("connected to another node of the cluster")
    });
    since.elapsed()
}

/// A node the agent uses goes away mid-load (`lose`, then `recover` once the agent moved):
/// the agent moves to another node within seconds, nothing is lost, and what it redelivers
/// stays within its unacked deliveries.
fn survive_node_loss(tag: &str, lose: fn(&mut Cluster), recover: fn(&mut Cluster)) {
    let started = Instant::now();
    let mut cluster = cluster_support::shared();
    let vhost = cluster.vhost(tag);
    let (_dir, agent) = start_agent(&cluster, &vhost);
    wait_consuming(&cluster, &vhost);
    let load = steady(&cluster, &vhost, 150, 14);
    wait_until("the agent acking the load", Duration::from_secs(60), || {
        metric(&agent, "ceilo_notifications_acked_total") >= 200.0
    });
    let lost_at = Instant::now();
    lose(&mut cluster);
    let moved = wait_failover(&agent, lost_at, Duration::from_secs(60));
    recover(&mut cluster);
    let r = load.join().expect("loadgen thread");
    let log = agent.log_text();
    let on = |k: usize| {
        metric(
            &agent,
            &format!(
                "ceilo_amqp_node_connections{{node=\"{}\"",
                cluster.nodes[k].address()
            ),
        )
    };
    let (on_lost, on_others) = (on(0), on(1) + on(2));
    let failovers = metric(&agent, "ceilo_amqp_failovers_total");
    eprintln!(
        "{tag}: connections on the lost node {on_lost}, on the others {on_others}, failovers {failovers}"
    );
    assert!(
        on_lost == 0.0 && on_others >= QUEUES as f64 && failovers >= QUEUES as f64,
        "every consumer and the publisher moved, as the metrics say:\n{log}"
    );
    eprintln!(
        "{tag}: moved to another node {moved:?} after the loss; {} in, {} complete, {} lost, \
         {} messages duplicated ({} records), {:?} in all",
        n(&r, "messages_in"),
        n(&r, "messages_complete"),
        n(&r, "messages_lost"),
        n(&r, "messages_duplicated"),
        n(&r, "duplicate_records"),
        started.elapsed()
    );
    assert_no_loss(&r, &log);
    assert!(
        moved < Duration::from_secs(15),
        "the agent took {moved:?} to move:\n{log}"
    );
    assert!(
        n(&r, "messages_duplicated") <= u64::from(PREFETCH) * QUEUES,
        "redelivered more than the agent held unacked: {r:#}"
    );
    assert!(
        log.contains(&cluster.nodes[1].address()) || log.contains(&cluster.nodes[2].address()),
        "it moved to a node that answers:\n{log}"
    );
    assert!(agent.terminate().success());
}

#[test]
fn killing_the_node_the_agent_uses_mid_load_loses_nothing() {
    survive_node_loss("kill9", |c| c.nodes[0].kill9(), |c| c.nodes[0].restart());
}

#[test]
fn stopping_and_restarting_the_node_the_agent_uses_mid_load_loses_nothing() {
    survive_node_loss("restart", |c| c.nodes[0].stop(), |c| c.nodes[0].restart());
}

/// Three agents drain one preload: every notification once, none twice.
#[test]
fn three_agents_drain_a_preload_without_loss_or_duplicates() {
    let cluster = cluster_support::shared();
    let vhost = cluster.vhost("three");
    let count = 3000;
    let load = preload(&cluster, &vhost, count);
    wait_queued(&cluster, &vhost, count);
    let agents: Vec<_> = (0..3).map(|_| start_agent(&cluster, &vhost)).collect();
    let r = load.join().expect("loadgen thread");
    let logs: Vec<String> = agents.iter().map(|(_, a)| a.log_text()).collect();
    let acked: Vec<f64> = agents
        .iter()
        .map(|(_, a)| metric(a, "ceilo_notifications_acked_total"))
        .collect();
    eprintln!(
        "three agents: {} in, {} complete, {} duplicated, drain {:?} s; acked per agent {acked:?}",
        n(&r, "messages_in"),
        n(&r, "messages_complete"),
        n(&r, "messages_duplicated"),
        r["drain_seconds"]
    );
    assert_no_loss(&r, &logs.join("\n---\n"));
    assert_eq!(n(&r, "messages_in"), count);
    assert_eq!(n(&r, "duplicate_records"), 0, "{r:#}");
    assert!(
        acked.iter().filter(|&&a| a > 0.0).count() >= 2,
        "the agents shared the work: {acked:?}"
    );
    for (_, agent) in agents {
        assert!(agent.terminate().success());
    }
}

/// Three agents drain one preload and one is SIGKILLed midway: its unacked deliveries go to
/// the two others, nothing is lost, and only those are redelivered.
#[test]
fn an_agent_killed_mid_drain_leaves_its_deliveries_to_the_others() {
    let cluster = cluster_support::shared();
    let vhost = cluster.vhost("agent-kill");
    let count = 4000;
    let load = preload(&cluster, &vhost, count);
    wait_queued(&cluster, &vhost, count);
    let mut agents: Vec<_> = (0..3).map(|_| start_agent(&cluster, &vhost)).collect();
    wait_until("the first agent acking", Duration::from_secs(60), || {
        metric(&agents[0].1, "ceilo_notifications_acked_total") >= 100.0
    });
    let (_dir, victim) = agents.remove(0);
    let acked_by_victim = metric(&victim, "ceilo_notifications_acked_total");
    victim.kill9();
    let r = load.join().expect("loadgen thread");
    let logs: Vec<String> = agents.iter().map(|(_, a)| a.log_text()).collect();
    let acked: Vec<f64> = agents
        .iter()
        .map(|(_, a)| metric(a, "ceilo_notifications_acked_total"))
        .collect();
    eprintln!(
        "agent killed: {} in, {} complete, {} lost, {} duplicated ({} records); the victim had \
         acked {acked_by_victim} (at least), the others {acked:?}",
        n(&r, "messages_in"),
        n(&r, "messages_complete"),
        n(&r, "messages_lost"),
        n(&r, "messages_duplicated"),
        n(&r, "duplicate_records"),
    );
    assert_no_loss(&r, &logs.join("\n---\n"));
    assert!(
        n(&r, "messages_duplicated") <= u64::from(PREFETCH) * QUEUES,
        "redelivered more than the killed agent held unacked: {r:#}"
    );
    assert!(
        acked_by_victim < count as f64 && acked.iter().all(|&a| a > 0.0),
        "killed mid-drain, the two others did the rest: {acked_by_victim} and {acked:?}"
    );
    for (_, agent) in agents {
        assert!(agent.terminate().success());
    }
}

/// Enough partitions that a ring of two or three random member ids gives some to more than one
/// member (all twelve to one member of three: about 3 · (1/3)¹² ≈ 6·10⁻⁶).
const PARTITIONS: usize = 12;

/// An agent sharing the transform partitions of `group` through the real Redis (membership
/// timeout 2 s: the ring is read every second).
fn start_partition_agent(
    cluster: &Cluster,
    vhost: &ClusterVhost,
    group: &coordination_support::Group,
) -> (tempfile::TempDir, Agent) {
    let coordination = format!(
        "notification:\n  transform_partitions: {PARTITIONS}\n  partition_coordination_url: \
         redis://127.0.0.1:6379?timeout=2\n  partition_group: {}\n",
        group.prefix
    );
    let dir = config_dir(&agent_settings().replacen("notification:\n", &coordination, 1));
    std::fs::write(dir.path().join("pipeline.yaml"), STATEFUL_PIPELINE).expect("pipeline.yaml");
    let agent = Agent::start(dir.path(), &cluster.url(&vhost.name));
    (dir, agent)
}

/// Partitions each agent says it owns (`ceilo_coordination_resources_owned` of the group).
fn owned(agents: &[&Agent], group: &coordination_support::Group) -> Vec<f64> {
    let series = format!("ceilo_coordination_resources_owned{{group=\"{}\"", group.prefix);
    agents.iter().map(|a| metric(a, &series)).collect()
}

/// Every partition queue has exactly one consumer: one agent subscribed, not all of them.
fn one_consumer_each(cluster: &Cluster, vhost: &ClusterVhost) -> bool {
    let url = cluster.nodes[2].url(&vhost.name);
    let rt = runtime();
    (0..PARTITIONS).all(|p| {
        rt.block_on(queue_state(&url, &format!("ceilo-transform.{p}")))
            .is_some_and(|(_, consumers)| consumers == 1)
    })
}

/// With coordination, the transform partitions are spread over the live agents (each owns what
/// the hash ring of the live members gives it, every partition has one consumer), a SIGKILLed
/// agent's share moves to the others within the membership timeout, and a new agent takes the
/// share the ring gives it.
#[test]
fn transform_partitions_spread_across_live_agents() {
    let started = Instant::now();
    let cluster = cluster_support::shared();
    let vhost = cluster.vhost("partitions");
    let group = coordination_support::Group::new("partitions");
    let mut agents: Vec<_> = (0..3)
        .map(|_| start_partition_agent(&cluster, &vhost, &group))
        .collect();
    let logs = |agents: &[(tempfile::TempDir, Agent)]| {
        agents
            .iter()
            .map(|(_, a)| a.log_text())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let spread = |agents: &[(tempfile::TempDir, Agent)]| {
        let refs: Vec<&Agent> = agents.iter().map(|(_, a)| a).collect();
        let Some(members) = refs
            .iter()
            .map(|a| coordination_support::member_id(&a.log_text()))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let expected = coordination_support::ring_shares(&members, PARTITIONS);
        // Which agent gets how many depends on the random member ids; that it is the ring's
        // split of the live members does not, nor that more than one agent has a share.
        assert!(
            expected.iter().filter(|&&n| n > 0.0).count() > 1,
            "the ring gives every partition to one of {members:?}"
        );
        owned(&refs, &group) == expected && one_consumer_each(&cluster, &vhost)
    };
    let bound = Duration::from_secs(60);
    let waited = |what: &str, agents: &[(tempfile::TempDir, Agent)]| {
        let since = Instant::now();
        let deadline = since + bound;
        while !spread(agents) {
            assert!(
                Instant::now() < deadline,
                "{what}: not spread in {bound:?}:\n{}",
                logs(agents)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let refs: Vec<&Agent> = agents.iter().map(|(_, a)| a).collect();
        eprintln!(
            "{what}: spread {:?} after {:?}",
            owned(&refs, &group),
            since.elapsed()
        );
        since.elapsed()
    };
    waited("three agents", &agents);

    let (_dir, victim) = agents.remove(0);
    victim.kill9();
    let moved = waited("one SIGKILLed", &agents);
    // Membership timeout 2 s, the ring read every second, the released queue's consumer moved.
    assert!(
        moved < Duration::from_secs(15),
        "took {moved:?}:\n{}",
        logs(&agents)
    );

    agents.push(start_partition_agent(&cluster, &vhost, &group));
    waited("one joined", &agents);
    eprintln!("partitions: {:?} in all", started.elapsed());
    for (_, agent) in agents {
        assert!(agent.terminate().success());
    }
}
