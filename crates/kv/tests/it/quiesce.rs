//! Quiescence of idle raft groups over real rpc servers on loopback: idle groups stop costing
//! CPU and wake promptly without re-elections; a quiesced group whose leader dies elects a new
//! one once the liveness hook fires; learners keep applying across quiescence.

use std::time::{Duration, Instant};

use base::{NodeId, RangeId};
use futures::future::join_all;
use sextant_kv::command::{RaftCommand, RawWrite};
use sextant_kv::raft::{ProposeError, RaftConfig, RaftGroup};

use crate::eventually;
use crate::toy::{Pairs, ToyCluster, WAIT, data_key, ids, thread_cpu};

/// Test timings: gentler than `fast()` (150 replicas share one thread of a debug build), and
/// quiescence after `quiesce_after` of idleness.
fn config(quiesce_after: Duration) -> RaftConfig {
    RaftConfig {
        heartbeat: Duration::from_millis(250),
        election_timeout_min: Duration::from_millis(500),
        election_timeout_max: Duration::from_millis(1000),
        quiesce_after: Some(quiesce_after),
        ..RaftConfig::fast()
    }
}

/// `n` toy nodes that open groups for ranges their leaders send them, with `cfg`.
async fn cluster(n: u64, cfg: &RaftConfig) -> ToyCluster {
    let c = ToyCluster::start(n).await;
    for node in &c.nodes {
        node.set_factory(cfg, false);
    }
    c
}

/// Timed proposals.
trait Propose {
    async fn propose(&self, range: RangeId, alive: &[NodeId], cmd: RaftCommand) -> Duration;
}

impl Propose for ToyCluster {
    /// Proposes `cmd` on the leader among `alive`, retrying while leadership settles; returns
    /// how long the successful proposal took.
    async fn propose(&self, range: RangeId, alive: &[NodeId], cmd: RaftCommand) -> Duration {
        let deadline = Instant::now() + WAIT;
        loop {
            let leader = self.leader(range, alive).await;
            let started = Instant::now();
            match leader.propose(cmd.clone()).await {
                Ok(res) => {
                    assert!(res.index > 0 && res.error.is_none(), "{res:?}");
                    return started.elapsed();
                }
                Err(e @ (ProposeError::NotLeader { .. } | ProposeError::Unavailable(_))) => {
                    assert!(
                        Instant::now() < deadline,
                        "{range}: proposal never succeeded: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{range}: proposal failed: {e}"),
            }
        }
    }
}

fn put(range: RangeId, i: usize) -> RaftCommand {
    RaftCommand {
        proposal_id: (range.0 << 32) | i as u64,
        writes: vec![RawWrite::Put(
            format!("k{i:03}").into_bytes(),
            format!("v{i}").into_bytes(),
        )],
        ..RaftCommand::default()
    }
}

fn expected(range: RangeId, n: usize) -> Pairs {
    (0..n)
        .map(|i| {
            let cmd = put(range, i);
            match &cmd.writes[0] {
                RawWrite::Put(k, v) => (data_key(range, k), v.clone()),
                RawWrite::Delete(_) => unreachable!(),
            }
        })
        .collect()
}

/// CPU time of the whole process (utime + stime, in clock ticks of 10 ms). Includes any other
/// test running in parallel in this binary.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Percent of a core used over `over` by this thread and by the process.
async fn idle_cpu(over: Duration) -> (f64, f64) {
    let (thread, process) = (thread_cpu(), process_cpu());
    tokio::time::sleep(over).await;
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / over.as_secs_f64();
    (pct(thread_cpu() - thread), pct(process_cpu() - process))
}

#[tokio::test]
async fn fifty_idle_groups_quiesce_and_wake_promptly() {
    crate::init_tracing();
    let started = Instant::now();
    // Generous election timeouts: an election here would be the test's own CPU starving
    // heartbeats, not waking.
    let cfg = RaftConfig {
        heartbeat: Duration::from_millis(500),
        election_timeout_min: Duration::from_millis(1000),
        election_timeout_max: Duration::from_millis(2000),
        ..config(Duration::from_millis(500))
    };
    let mut c = cluster(3, &cfg).await;
    let all = ids(&[1, 2, 3]);
    let ranges: Vec<RangeId> = (200..250).map(RangeId).collect();
    join_all(ranges.iter().map(|&r| c.create_range(r, 3, &cfg))).await;
    join_all(ranges.iter().map(|&r| c.propose(r, &all, put(r, 0)))).await;
    let written = started.elapsed();

    let replicas: Vec<RaftGroup> = ranges.iter().flat_map(|&r| c.groups(r, &all)).collect();
    eventually(WAIT, "every replica quiescent", || {
        replicas.iter().all(RaftGroup::is_quiescent)
    })
    .await;
    let quiesced = started.elapsed();
    let terms: Vec<u64> = replicas.iter().map(RaftGroup::term).collect();
    let (thread, process) = idle_cpu(Duration::from_secs(2)).await;
    let per_replica = thread / replicas.len() as f64;
    eprintln!(
        "50 groups x 3 replicas quiesced: {thread:.3}% of a core for the test's thread \
         ({per_replica:.5}% per replica), {process:.1}% for the process (other tests included)"
    );
    assert!(
        replicas.iter().all(RaftGroup::is_quiescent),
        "nothing woke while idle"
    );
    assert!(thread < 2.0, "quiesced groups cost {thread:.3}% of a core");

    // Every group takes a write without an election: followers are woken by their leader's
    // heartbeat, not by their own long-expired election timers, and the woken leader renews its
    // lease from that heartbeat round. (How fast is a matter of CPU, which other tests share:
    // the latency is printed, not bounded. Every heartbeat used to time out on a starved
    // runtime, since openraft bounds one by the heartbeat interval, and the lease of a woken
    // leader never came back: `propose` failed with "leader lease expired" after its deadline.)
    let latencies = join_all(ranges.iter().map(|&r| c.propose(r, &all, put(r, 1)))).await;
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    eprintln!("proposals after quiescence: slowest {slowest:?}");
    let after: Vec<u64> = replicas.iter().map(RaftGroup::term).collect();
    assert_eq!(terms, after, "waking caused elections");
    for &r in &ranges {
        assert_eq!(c.converged(r, &all).await, expected(r, 2));
    }

    // And they quiesce again.
    eventually(WAIT, "quiescent again", || {
        replicas.iter().all(RaftGroup::is_quiescent)
    })
    .await;
    c.stop().await;
    eprintln!(
        "fifty_idle_groups: written {written:?}, quiesced {quiesced:?}, total {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn quiesced_followers_elect_when_their_leader_dies() {
    crate::init_tracing();
    let started = Instant::now();
    let cfg = config(Duration::from_millis(300));
    let mut c = cluster(3, &cfg).await;
    let all = ids(&[1, 2, 3]);
    // Both ranges led by the same node: one recovers by the liveness hook, the other by a
    // request reaching a follower (`wake`).
    let (by_hook, by_request) = (RangeId(300), RangeId(301));
    for r in [by_hook, by_request] {
        c.create_range(r, 3, &cfg).await;
        c.propose(r, &all, put(r, 0)).await;
    }
    let old = c.leader(by_hook, &all).await.node_id();
    if c.leader(by_request, &all).await.node_id() != old {
        c.leader(by_request, &all)
            .await
            .transfer_leader(old)
            .await
            .expect("transfer");
    }
    for r in [by_hook, by_request] {
        let groups = c.groups(r, &all);
        eventually(WAIT, "quiescent", || {
            groups.iter().all(RaftGroup::is_quiescent)
        })
        .await;
    }
    let idx = c.nodes.iter().position(|n| n.id == old).expect("leader");
    c.nodes[idx].stop().await;
    let alive: Vec<NodeId> = all.iter().copied().filter(|&n| n != old).collect();

    // Quiesced followers run no election timer: nobody campaigns.
    tokio::time::sleep(cfg.election_timeout_max * 2).await;
    for r in [by_hook, by_request] {
        for g in c.groups(r, &alive) {
            assert!(g.is_quiescent() && !g.is_leader(), "{r} woke by itself");
            assert_eq!(g.quiesced_leader(), Some(old));
        }
    }

    // A request reaching a follower wakes it: it asks the dead leader, gets no answer, and
    // campaigns; the other follower grants its vote and wakes at the new leader's first append.
    let requested = Instant::now();
    c.node(alive[0]).group(by_request).wake().await;
    let other = c.leader(by_request, &alive).await;
    let by_request_elected = requested.elapsed();
    assert_ne!(other.node_id(), old);
    eventually(WAIT, "the other follower woke", || {
        c.groups(by_request, &alive)
            .iter()
            .all(|g| !g.is_quiescent())
    })
    .await;

    // The node's liveness says `old` is down: the hook wakes the followers it still leads.
    let hooked = Instant::now();
    let woken: usize = alive
        .iter()
        .map(|&n| c.node(n).router.wake_groups_led_by(old))
        .sum();
    assert_eq!(woken, 2, "one range's followers on both live nodes");
    let new = c.leader(by_hook, &alive).await;
    let by_hook_elected = hooked.elapsed();
    assert_ne!(new.node_id(), old);
    for r in [by_hook, by_request] {
        c.propose(r, &alive, put(r, 1)).await;
        assert_eq!(c.converged(r, &alive).await, expected(r, 2));
    }
    eprintln!(
        "leader death: elected {by_hook_elected:?} after the liveness hook, \
         {by_request_elected:?} after a request's wake; test {:?}",
        started.elapsed()
    );
    c.stop().await;
}

#[tokio::test]
async fn learner_applies_across_quiescence() {
    crate::init_tracing();
    let started = Instant::now();
    let cfg = config(Duration::from_millis(300));
    let mut c = cluster(4, &cfg).await;
    let voters = ids(&[1, 2, 3]);
    let everyone = ids(&[1, 2, 3, 4]);
    let r = RangeId(400);
    c.create_range(r, 3, &cfg).await;
    c.propose(r, &voters, put(r, 0)).await;
    let leader = c.leader(r, &voters).await;
    leader.add_learner(NodeId(4)).await.expect("add learner");
    c.propose(r, &voters, put(r, 1)).await;
    assert_eq!(c.converged(r, &everyone).await, expected(r, 2));
    let groups = c.groups(r, &everyone);
    eventually(WAIT, "all four quiescent", || {
        groups.iter().all(RaftGroup::is_quiescent)
    })
    .await;
    let term = leader.term();

    // A write wakes the group; the learner applies it.
    c.propose(r, &voters, put(r, 2)).await;
    assert_eq!(c.converged(r, &everyone).await, expected(r, 3));
    let learner = c.node(NodeId(4)).group(r);
    assert_eq!(learner.learners(), vec![NodeId(4)]);
    eventually(WAIT, "quiescent again", || {
        groups.iter().all(RaftGroup::is_quiescent)
    })
    .await;

    // A request reaching the learner wakes the group through the leader, with no election.
    learner.wake().await;
    eventually(WAIT, "the learner's wake reached everyone", || {
        groups.iter().all(|g| !g.is_quiescent())
    })
    .await;
    c.propose(r, &voters, put(r, 3)).await;
    assert_eq!(c.converged(r, &everyone).await, expected(r, 4));
    assert!(groups.iter().all(|g| g.term() == term), "no election");
    c.stop().await;
    eprintln!("learner_applies_across_quiescence: {:?}", started.elapsed());
}

/// Resident memory of the process (from `/proc/self/status`).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

/// Idle cost of many groups in one process, awake and then quiesced: `SEXTANT_RANGES` ranges
/// (default 1,000) of 3 replicas, production timings (200 ms heartbeat), quiescence after 10 s.
/// Measures process CPU, so run it alone:
/// `SEXTANT_RANGES=1000 cargo test -p sextant-kv --test it -- --ignored idle_cost --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of a minute or more; run it alone"]
async fn idle_cost_of_many_ranges() {
    let started = Instant::now();
    let n: u64 = std::env::var("SEXTANT_RANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let cfg = RaftConfig {
        quiesce_after: Some(Duration::from_secs(10)),
        ..RaftConfig::default()
    };
    let rss_before = rss_mb();
    let mut c = cluster(3, &cfg).await;
    let all = ids(&[1, 2, 3]);
    let ranges: Vec<RangeId> = (1000..1000 + n).map(RangeId).collect();
    for chunk in ranges.chunks(50) {
        join_all(chunk.iter().map(|&r| c.create_range(r, 3, &cfg))).await;
    }
    let created = started.elapsed();
    // One write each, just before measuring: every group is awake and heartbeats.
    for chunk in ranges.chunks(100) {
        join_all(chunk.iter().map(|&r| c.propose(r, &all, put(r, 0)))).await;
    }
    let replicas = (3 * n) as f64;
    let (_, awake) = idle_cpu(Duration::from_secs(4)).await;
    let rss_awake = rss_mb();
    let groups: Vec<RaftGroup> = ranges.iter().flat_map(|&r| c.groups(r, &all)).collect();
    eventually(Duration::from_secs(120), "every replica quiescent", || {
        groups.iter().all(RaftGroup::is_quiescent)
    })
    .await;
    let terms: Vec<u64> = groups.iter().map(RaftGroup::term).collect();
    let (_, quiet) = idle_cpu(Duration::from_secs(4)).await;
    let rss_quiet = rss_mb();
    let latencies = {
        let mut all_latencies = Vec::new();
        for chunk in ranges.chunks(100) {
            all_latencies
                .extend(join_all(chunk.iter().map(|&r| c.propose(r, &all, put(r, 1)))).await);
        }
        all_latencies
    };
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    let slow = latencies
        .iter()
        .filter(|l| **l > Duration::from_secs(1))
        .count();
    let elections = groups
        .iter()
        .zip(&terms)
        .filter(|(g, t)| g.term() != **t)
        .count();
    eprintln!("writes after quiescence over 1 s: {slow}; replicas whose term moved: {elections}");
    eprintln!(
        "{n} ranges x 3 replicas (created in {created:?}): process CPU awake {awake:.1}% of a core \
         ({:.4}% per replica), quiesced {quiet:.2}% ({:.5}% per replica); RSS {rss_before:.0} MB \
         before, {rss_awake:.0} MB awake ({:.3} MB per replica), {rss_quiet:.0} MB quiesced; \
         slowest write after quiescence {slowest:?}; test {:?}",
        awake / replicas,
        quiet / replicas,
        (rss_awake - rss_before) / replicas,
        started.elapsed()
    );
    c.stop().await;
}
