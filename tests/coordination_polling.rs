//! Polling partitioning between `ceilo run` agents through the real Redis: every agent polls
//! the dynamic pollster `coord.test` over a local API of N endpoints (`endpoint:coordtest`
//! discovery), the API logs which agent asked for which resource, and:
//! * two agents' cycles split the resources, disjoint and complete;
//! * an agent SIGKILLed (its heartbeats stop) loses its share to the other within the
//!   membership timeout plus one interval;
//! * a new agent takes its share from its first cycles on.
//!
//! Each test uses a partitioning_group_prefix of its own (its Redis keys are deleted after)
//! and a RabbitMQ vhost of its own for the agents' notifications.

mod coordination_support;
mod runtime_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use coordination_support::*;
use runtime_support::{config_dir, Agent, Broker, TELEMETRY};

const N: usize = 24;
/// Poll interval (s) and membership timeout (s) of the agents.
const INTERVAL: u64 = 1;
const MEMBERSHIP_TIMEOUT: u64 = 2;
/// Requests of one cycle come within this of each other; cycles are an interval apart.
const GAP: Duration = Duration::from_millis(400);

fn start_agent(name: &str, api: &Api, group: &Group, broker: &Broker) -> (tempfile::TempDir, Agent) {
    let dir = config_dir(TELEMETRY);
    write_ceilo_config(dir.path(), name, api, group, INTERVAL, MEMBERSHIP_TIMEOUT);
    let agent = Agent::start(dir.path(), &broker.url());
    (dir, agent)
}

fn cycles_of(api: &Api, agent: &str) -> usize {
    api.cycles(GAP).get(agent).map_or(0, Vec::len)
}

/// How long after `since` `agent` started its first cycle that polled every resource. What an
/// agent decides is when that cycle starts (its first request); how long N requests take on a
/// loaded machine is not the takeover's doing, so it is left out.
fn wait_for_takeover(api: &Api, agent: &str, since: Instant) -> Duration {
    let mut started = None;
    wait_for(
        &format!("{agent} polling every resource"),
        Duration::from_secs(30),
        || {
            started = api.cycles(GAP).get(agent).and_then(|c| {
                c.iter()
                    .find(|(at, s)| *at > since && s.len() == N)
                    .map(|(at, _)| *at)
            });
            started.is_some()
        },
    );
    started.expect("waited for").duration_since(since)
}

/// The last complete cycles of `agents` since `since`: disjoint, and together every resource.
fn assert_split(api: &Api, agents: &[&str], since: Instant, logs: &[&Agent]) {
    let last = api.last_cycles(GAP, since);
    let sets: Vec<&BTreeSet<usize>> = agents
        .iter()
        .map(|a| {
            last.get(*a).unwrap_or_else(|| {
                let text: Vec<String> = logs.iter().map(|l| l.log_text()).collect();
                panic!(
                    "no complete cycle of {a} since the mark: {last:?}\n{}",
                    text.join("\n---\n")
                )
            })
        })
        .collect();
    let mut union = BTreeSet::new();
    for (i, s) in sets.iter().enumerate() {
        assert!(!s.is_empty(), "{} polled nothing: {last:?}", agents[i]);
        for other in &sets[i + 1..] {
            assert!(s.is_disjoint(other), "overlap: {last:?}");
        }
        union.extend(s.iter().copied());
    }
    assert_eq!(union, (0..N).collect::<BTreeSet<_>>(), "not complete: {last:?}");
}

#[test]
fn agents_split_resources_and_take_over_a_dead_ones_share() {
    let (api, group, broker) = (Api::start(N), Group::new("poll"), Broker::new("coord-poll"));
    let (_da, a) = start_agent("agent-a", &api, &group, &broker);
    let (_db, b) = start_agent("agent-b", &api, &group, &broker);
    wait_for("both agents polling", Duration::from_secs(60), || {
        cycles_of(&api, "agent-a") >= 3 && cycles_of(&api, "agent-b") >= 3
    });
    // Both are in each other's ring from here on.
    let mark = Instant::now();
    std::thread::sleep(Duration::from_secs(3 * INTERVAL + 1));
    assert_split(&api, &["agent-a", "agent-b"], mark, &[&a, &b]);
    assert!(
        a.log_text().contains("coordination: joined group"),
        "{}",
        a.log_text()
    );

    // b dies without leaving: a polls everything once b's beat key has expired.
    let killed = Instant::now();
    b.kill9();
    let took = wait_for_takeover(&api, "agent-a", killed);
    let bound = Duration::from_secs(MEMBERSHIP_TIMEOUT + INTERVAL) + Duration::from_millis(1500);
    assert!(took <= bound, "took over after {took:?} (bound {bound:?})");

    // A new agent takes its share on its first cycles.
    let (_dc, c) = start_agent("agent-c", &api, &group, &broker);
    wait_for("agent-c polling", Duration::from_secs(60), || {
        cycles_of(&api, "agent-c") >= 3
    });
    let mark = Instant::now();
    std::thread::sleep(Duration::from_secs(3 * INTERVAL + 1));
    assert_split(&api, &["agent-a", "agent-c"], mark, &[&a, &c]);
    drop(c);
    drop(a);
}

#[test]
fn an_agent_alone_polls_everything_and_one_that_leaves_hands_over_at_once() {
    let (api, group, broker) = (Api::start(N), Group::new("leave"), Broker::new("coord-leave"));
    let (_da, a) = start_agent("solo-a", &api, &group, &broker);
    wait_for("solo-a polling", Duration::from_secs(60), || {
        cycles_of(&api, "solo-a") >= 3
    });
    let mark = Instant::now();
    std::thread::sleep(Duration::from_secs(3 * INTERVAL + 1));
    assert_split(&api, &["solo-a"], mark, &[&a]);

    let (_db, b) = start_agent("solo-b", &api, &group, &broker);
    wait_for("solo-b polling", Duration::from_secs(60), || {
        cycles_of(&api, "solo-b") >= 3
    });
    // A graceful stop leaves the group and deletes the beat key: a takes over on its next
    // cycle, well before the membership timeout.
    let stopped = Instant::now();
    assert!(b.terminate().success());
    let took = wait_for_takeover(&api, "solo-a", stopped);
    assert!(
        took < Duration::from_secs(MEMBERSHIP_TIMEOUT) + Duration::from_millis(1500),
        "{took:?}"
    );
    drop(a);
}
