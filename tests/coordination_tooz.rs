//! ceilo's coordination member and a real tooz member (tooz 9.1 from the Ceilometer 27 venv,
//! its Redis driver) in one group on the real Redis: each sees the other, both put the same
//! bytes under the same keys, tooz's own partitioner and ceilo's ring give every object the
//! same owner, and a member that stops heartbeating is dropped within the membership timeout.

mod coordination_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use ceilo::coordination::resp::{Connection, Reply};
use ceilo::coordination::Coordinator;
use coordination_support::*;

/// A tooz member driven over stdin: `owners` prints its view of the group as one JSON line.
const TOOZ_MEMBER: &str = r#"
import json, sys
from tooz import coordination
url, group, member = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
objects = [f"http://127.0.0.1:9/r/{i}/" for i in range(int(sys.argv[4]))]
c = coordination.get_coordinator(url, member)
c.start(start_heart=True)
p = c.join_partitioned_group(group)
print("joined", flush=True)
for line in sys.stdin:
    if line.strip() == "owners":
        c.run_watchers()
        members = sorted(m.decode() for m in c.get_members(group).get())
        owners = {o: [n.decode() for n in p.members_for_object(o)][0] for o in objects}
        print(json.dumps({"members": members, "owners": owners}), flush=True)
"#;

struct ToozMember {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl ToozMember {
    fn start(url: &str, group: &str, member: &str, objects: usize) -> ToozMember {
        let venv = ceilometer_venv();
        let mut child = Command::new(venv.join("bin/python"))
            .args([
                "-W",
                "ignore",
                "-c",
                TOOZ_MEMBER,
                url,
                group,
                member,
                &objects.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "joined", "tooz member did not start");
        ToozMember { child, stdin, stdout }
    }

    fn view(&mut self) -> serde_json::Value {
        writeln!(self.stdin, "owners").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }
}

impl Drop for ToozMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn redis(args: &[&[u8]]) -> Reply {
    let mut c = Connection::open("127.0.0.1:6379", None, 0, Duration::from_secs(5))
        .await
        .expect("redis on 127.0.0.1:6379");
    c.call(args).await.expect("redis call")
}

#[test]
fn ceilo_and_tooz_share_a_group_key_for_key_and_owner_for_owner() {
    let group_guard = Group::new("tooz");
    let group = format!("{}-global", group_guard.prefix);
    // Beat keys are per member, not per group: names of this run's own, so that runs in
    // parallel do not beat for (or remove the beat of) each other's members.
    let (ceilo_member, tooz_member) = (
        format!("{}-ceilo-member", group_guard.prefix),
        format!("{}-tooz-member", group_guard.prefix),
    );
    let (ceilo_member, tooz_member) = (ceilo_member.as_str(), tooz_member.as_str());
    let url = format!("{REDIS}?timeout=2");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ceilo = {
        let _guard = rt.enter();
        Coordinator::start_as(&url, ceilo_member.into(), rt.handle()).unwrap()
    };
    let alone = rt.block_on(ceilo.members(&group)).unwrap();
    assert_eq!(alone, [(ceilo_member.to_owned(), 1)]);

    let n = 200;
    let mut tooz = ToozMember::start(&url, &group, tooz_member, n);
    let view = tooz.view();
    assert_eq!(
        view["members"],
        serde_json::json!([ceilo_member, tooz_member]),
        "{view}"
    );
    let mut members = rt.block_on(ceilo.members(&group)).unwrap();
    members.sort();
    assert_eq!(
        members,
        [(ceilo_member.to_owned(), 1), (tooz_member.to_owned(), 1)]
    );

    // Same owner for every object, and both own a fair part.
    let (ring, _) = rt.block_on(ceilo.ring(&group)).unwrap();
    let mut mine = 0;
    for (object, owner) in view["owners"].as_object().unwrap() {
        assert_eq!(ring.owner(object.as_bytes()), owner.as_str(), "{object}");
        mine += usize::from(owner == ceilo_member);
    }
    assert!(mine > n / 10 && mine < n * 9 / 10, "ceilo owns {mine} of {n}");

    // The same keys, with the same bytes, as tooz writes them.
    let fields = rt.block_on(redis(&[b"HGETALL", format!("_tooz_group:{group}").as_bytes()]));
    let fields = fields.into_bulks();
    let map: std::collections::BTreeMap<String, Vec<u8>> = fields
        .chunks(2)
        .map(|kv| (String::from_utf8_lossy(&kv[0]).into_owned(), kv[1].clone()))
        .collect();
    assert_eq!(map["__created__"], b"1");
    assert_eq!(map[ceilo_member], map[tooz_member], "capabilities differ");
    assert_eq!(hex::encode(&map[ceilo_member]), "81a677656967687401");
    assert_eq!(
        rt.block_on(redis(&[b"SISMEMBER", b"_tooz_groups", group.as_bytes()])),
        Reply::Int(1)
    );
    for member in [ceilo_member, tooz_member] {
        let key = format!("_tooz_beats:{member}");
        assert_eq!(
            rt.block_on(redis(&[b"GET", key.as_bytes()])),
            Reply::Bulk(Some(b"Not dead!".to_vec()))
        );
        match rt.block_on(redis(&[b"PTTL", key.as_bytes()])) {
            Reply::Int(ms) => assert!(ms > 0 && ms <= 2000, "{member}: {ms} ms"),
            other => panic!("{other:?}"),
        }
    }

    // The tooz member dies without leaving: ceilo drops it once its beat key expires.
    let killed = Instant::now();
    drop(tooz);
    wait_for(
        "the dead tooz member to be dropped",
        Duration::from_secs(10),
        || rt.block_on(ceilo.members(&group)).unwrap().len() == 1,
    );
    let took = killed.elapsed();
    assert!(took <= Duration::from_millis(2500), "dropped after {took:?}");
    let left = rt.block_on(redis(&[
        b"HEXISTS",
        format!("_tooz_group:{group}").as_bytes(),
        tooz_member.as_bytes(),
    ]));
    assert_eq!(left, Reply::Int(0), "the dead member's field stays");

    // Stopping leaves the group and removes the beat key at once.
    rt.block_on(ceilo.stop());
    assert_eq!(
        rt.block_on(redis(&[
            b"EXISTS",
            format!("_tooz_beats:{ceilo_member}").as_bytes()
        ])),
        Reply::Int(0)
    );
    assert_eq!(
        rt.block_on(redis(&[
            b"HEXISTS",
            format!("_tooz_group:{group}").as_bytes(),
            ceilo_member.as_bytes()
        ])),
        Reply::Int(0)
    );
}

#[test]
fn a_member_pruned_while_its_beats_failed_joins_again() {
    let group_guard = Group::new("rejoin");
    let group = format!("{}-global", group_guard.prefix);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = Coordinator::start_as(&format!("{REDIS}?timeout=30"), "a".into(), rt.handle()).unwrap();
    assert_eq!(rt.block_on(a.members(&group)).unwrap().len(), 1);
    // Another member prunes `a` as tooz would once a's beat key is gone.
    rt.block_on(redis(&[b"DEL", b"_tooz_beats:a"]));
    let b = Coordinator::start_as(&format!("{REDIS}?timeout=30"), "b".into(), rt.handle()).unwrap();
    assert_eq!(
        rt.block_on(b.members(&group)).unwrap(),
        [("b".to_owned(), 1)],
        "a is pruned"
    );
    // a's next read finds itself missing, beats and joins again: both see both.
    assert_eq!(rt.block_on(a.members(&group)).unwrap().len(), 2);
    assert_eq!(rt.block_on(b.members(&group)).unwrap().len(), 2);
    rt.block_on(a.stop());
    rt.block_on(b.stop());
}

/// A `redis-server` of the test's own (a master, a replica or, with `--sentinel`, a Sentinel),
/// killed on drop.
struct RedisProcess {
    child: Child,
    port: u16,
}

impl RedisProcess {
    fn start(dir: &std::path::Path, name: &str, config: &str, sentinel: bool) -> RedisProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\n{config}",
                dir.display()
            ),
        )
        .unwrap();
        let mut command = Command::new("redis-server");
        command.arg(&conf);
        if sentinel {
            command.arg("--sentinel");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let process = RedisProcess { child, port };
        wait_for("redis-server to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        process
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call_at(addr: &str, args: &[&[u8]]) -> Result<Reply, ceilo::coordination::resp::RespError> {
    let mut c = Connection::open(addr, None, 0, Duration::from_secs(2)).await?;
    c.call(args).await
}

/// tooz's Sentinel URLs (`?sentinel=<master>&sentinel_fallback=host:port`, as Kolla-Ansible
/// writes `[coordination] backend_url`): ceilo and a tooz member find the master through the
/// Sentinels and share its group; after the master dies and a Sentinel promotes its replica,
/// ceilo's next calls go to the new master.
#[test]
fn through_redis_sentinel_ceilo_and_tooz_share_the_master_and_follow_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = Some(RedisProcess::start(dir.path(), "master", "", false));
    let master_port = master.as_ref().unwrap().port;
    let replica = RedisProcess::start(
        dir.path(),
        "replica",
        &format!("replicaof 127.0.0.1 {master_port}\n"),
        false,
    );
    let sentinel_conf = format!(
        "sentinel monitor ceilo-m 127.0.0.1 {master_port} 1\n\
         sentinel down-after-milliseconds ceilo-m 1000\n\
         sentinel failover-timeout ceilo-m 5000\n"
    );
    let sentinel = RedisProcess::start(dir.path(), "sentinel", &sentinel_conf, true);
    // The first Sentinel listed is not there: the fallback answers.
    let url = format!(
        "redis://127.0.0.1:1?sentinel=ceilo-m&sentinel_fallback={}&timeout=2",
        sentinel.addr()
    );
    let group = "ceilo-sentinel-global";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ceilo = {
        let _guard = rt.enter();
        Coordinator::start_as(&url, "ceilo-member".into(), rt.handle()).unwrap()
    };
    assert_eq!(rt.block_on(ceilo.members(group)).unwrap().len(), 1);
    let mut tooz = ToozMember::start(&url, group, "tooz-member", 10);
    assert_eq!(
        tooz.view()["members"],
        serde_json::json!(["ceilo-member", "tooz-member"])
    );
    let on_master = rt
        .block_on(call_at(
            &format!("127.0.0.1:{master_port}"),
            &[b"HKEYS", format!("_tooz_group:{group}").as_bytes()],
        ))
        .unwrap()
        .into_bulks();
    assert_eq!(on_master.len(), 3, "the group's hash is on the master");
    drop(tooz);

    // The master dies; the Sentinel promotes the replica.
    drop(master.take());
    wait_for("the replica's promotion", Duration::from_secs(30), || {
        matches!(
            rt.block_on(call_at(&replica.addr(), &[b"ROLE"])),
            Ok(Reply::Array(Some(ref items))) if items.first() == Some(&Reply::Bulk(Some(b"master".to_vec())))
        )
    });
    wait_for(
        "ceilo to read its group on the new master",
        Duration::from_secs(30),
        || {
            rt.block_on(ceilo.members(group))
                .is_ok_and(|m| m.iter().any(|(id, _)| id == "ceilo-member"))
        },
    );
    rt.block_on(ceilo.stop());
    let left = rt
        .block_on(call_at(
            &replica.addr(),
            &[
                b"HEXISTS",
                format!("_tooz_group:{group}").as_bytes(),
                b"ceilo-member",
            ],
        ))
        .unwrap();
    assert_eq!(left, Reply::Int(0), "ceilo left the group on the new master");
}
