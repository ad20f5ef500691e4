//! The raft layer over real rpc servers on loopback: replication, failover, learners fed by
//! snapshot, membership changes, restart from disk, many groups, groups opened on demand.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base::{NodeId, RangeId};
use futures::future::join_all;
use rpc::Target;
use sextant_kv::command::{RaftCommand, RawWrite};
use sextant_kv::raft::{ProposeError, RaftConfig, RaftGroup};
use storage::{Cf, Engine, FjallEngine, MemoryEngine};

use crate::eventually;
use crate::toy::{Pairs, ToyCluster, WAIT, data_key, ids, thread_cpu};

/// Proposals that follow leadership changes.
trait Propose {
    async fn propose(&self, range: RangeId, alive: &[NodeId], cmds: Vec<RaftCommand>);
}

impl Propose for ToyCluster {
    /// Proposes `cmds` (in concurrent waves of 100) on the leader among `alive`, following
    /// leadership changes; returns once every command is acknowledged.
    async fn propose(&self, range: RangeId, alive: &[NodeId], cmds: Vec<RaftCommand>) {
        for wave in cmds.chunks(100) {
            let mut pending = wave.to_vec();
            let mut last_error = String::new();
            for _attempt in 0..20 {
                let leader = self.leader(range, alive).await;
                let results = join_all(pending.iter().map(|c| leader.propose(c.clone()))).await;
                let failed: Vec<RaftCommand> = pending
                    .iter()
                    .zip(results)
                    .filter_map(|(c, r)| match r {
                        Ok(res) => {
                            assert!(res.index > 0 && res.error.is_none(), "{res:?}");
                            None
                        }
                        Err(
                            e @ (ProposeError::NotLeader { .. } | ProposeError::Unavailable(_)),
                        ) => {
                            last_error = e.to_string();
                            Some(c.clone())
                        }
                        Err(e) => panic!("proposal failed: {e}"),
                    })
                    .collect();
                pending = failed;
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(
                pending.is_empty(),
                "{range}: {} proposals never succeeded: {last_error}",
                pending.len()
            );
        }
    }
}

fn puts(range: RangeId, from: usize, n: usize) -> Vec<RaftCommand> {
    (from..from + n)
        .map(|i| RaftCommand {
            proposal_id: (range.0 << 32) | i as u64,
            writes: vec![RawWrite::Put(
                format!("k{i:05}").into_bytes(),
                format!("v{i}").into_bytes(),
            )],
            ..RaftCommand::default()
        })
        .collect()
}

fn expected(range: RangeId, n: usize) -> Pairs {
    (0..n)
        .map(|i| {
            (
                data_key(range, format!("k{i:05}").as_bytes()),
                format!("v{i}").into_bytes(),
            )
        })
        .collect()
}

fn set(ids: &[u64]) -> BTreeSet<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

#[tokio::test]
async fn three_voters_replicate_100_commands() {
    let started = Instant::now();
    let r = RangeId(1);
    let cfg = RaftConfig::fast();
    let mut c = ToyCluster::start(3).await;
    c.create_range(r, 3, &cfg).await;
    let all = ids(&[1, 2, 3]);
    let leader = c.leader(r, &all).await;
    assert_eq!(leader.voters(), all);
    assert!(leader.learners().is_empty());
    c.propose(r, &all, puts(r, 0, 100)).await;
    let data = c.converged(r, &all).await;
    assert_eq!(data, expected(r, 100));
    leader
        .ensure_linearizable()
        .await
        .expect("linearizable on the leader");
    let follower = all
        .iter()
        .map(|&id| c.node(id).group(r))
        .find(|g| !g.is_leader())
        .expect("follower");
    assert!(matches!(
        follower.propose(puts(r, 100, 1).remove(0)).await,
        Err(ProposeError::NotLeader { leader: Some(l) }) if l == leader.node_id()
    ));
    assert!(matches!(
        follower.ensure_linearizable().await,
        Err(ProposeError::NotLeader { .. })
    ));
    for node in &c.nodes {
        assert_eq!(node.applier.applied.load(Ordering::Relaxed), 100);
        assert_eq!(
            node.applier.memberships.lock().first(),
            Some(&(all.clone(), vec![]))
        );
    }

    // Hand leadership to a follower; it takes writes.
    let to = follower.node_id();
    leader.transfer_leader(to).await.expect("transfer leader");
    assert_eq!(c.leader(r, &all).await.node_id(), to);
    assert!(matches!(
        leader.transfer_leader(to).await,
        Err(ProposeError::NotLeader { .. })
    ));
    c.propose(r, &all, puts(r, 100, 10)).await;
    assert_eq!(c.converged(r, &all).await, expected(r, 110));
    c.stop().await;
    eprintln!(
        "three_voters_replicate_100_commands: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn leader_failover_loses_no_acknowledged_command() {
    let started = Instant::now();
    let r = RangeId(2);
    let cfg = RaftConfig::fast();
    let mut c = ToyCluster::start(3).await;
    c.create_range(r, 3, &cfg).await;
    let all = ids(&[1, 2, 3]);
    c.propose(r, &all, puts(r, 0, 50)).await;
    let old = c.leader(r, &all).await.node_id();
    let idx = c
        .nodes
        .iter()
        .position(|n| n.id == old)
        .expect("leader node");
    let killed_at = Instant::now();
    c.nodes[idx].stop().await;
    let alive: Vec<NodeId> = all.iter().copied().filter(|&id| id != old).collect();
    let new = c.leader(r, &alive).await;
    let failover = killed_at.elapsed();
    assert_ne!(new.node_id(), old);
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );
    c.propose(r, &alive, puts(r, 50, 50)).await;
    assert_eq!(c.converged(r, &alive).await, expected(r, 100));
    c.stop().await;
    eprintln!(
        "leader_failover: new leader in {failover:?}; test {:?}",
        started.elapsed()
    );
}

/// A learner added after the log was purged gets a snapshot, applies it, stays a learner.
#[tokio::test]
async fn learner_catches_up_by_snapshot() {
    let started = Instant::now();
    let r = RangeId(3);
    let cfg = RaftConfig {
        snapshot_after_logs: 200,
        logs_kept_after_snapshot: 10,
        snapshot_chunk_size: 4096,
        ..RaftConfig::fast()
    };
    let mut c = ToyCluster::start(3).await;
    c.create_range(r, 3, &cfg).await;
    let voters = ids(&[1, 2, 3]);
    c.propose(r, &voters, puts(r, 0, 1000)).await;
    let leader = c.leader(r, &voters).await;
    eventually(WAIT, "log purged behind a snapshot", || {
        leader.purged_index() > 500
    })
    .await;

    let learner = c.add_node(Arc::new(MemoryEngine::new())).await;
    learner.set_factory(&cfg, false);
    let learner_id = learner.id;
    leader.add_learner(learner_id).await.expect("add learner");
    assert_eq!(c.node(learner_id).created.lock().clone(), vec![r]);
    assert_eq!(leader.learners(), vec![learner_id]);
    assert_eq!(leader.voters(), voters);

    let mut everyone = voters.clone();
    everyone.push(learner_id);
    assert_eq!(c.converged(r, &everyone).await, expected(r, 1000));
    let learner_group = c.node(learner_id).group(r);
    assert_eq!(
        learner_group.voters(),
        voters,
        "the learner sees the voters"
    );
    assert_eq!(learner_group.learners(), vec![learner_id]);
    assert!(!learner_group.is_leader());
    assert_eq!(
        c.node(learner_id).applier.installs.load(Ordering::Relaxed),
        1
    );

    // It keeps following the log after the snapshot.
    c.propose(r, &voters, puts(r, 1000, 20)).await;
    assert_eq!(c.converged(r, &everyone).await, expected(r, 1020));
    c.stop().await;
    eprintln!("learner_catches_up_by_snapshot: {:?}", started.elapsed());
}

/// Promote a learner, demote a voter to learner, then remove it.
#[tokio::test]
async fn change_membership_promotes_demotes_and_removes() {
    let started = Instant::now();
    let r = RangeId(4);
    let cfg = RaftConfig::fast();
    let mut c = ToyCluster::start(4).await;
    c.nodes[3].set_factory(&cfg, false);
    c.create_range(r, 3, &cfg).await;
    let voters = ids(&[1, 2, 3]);
    c.propose(r, &voters, puts(r, 0, 30)).await;
    let leader = c.leader(r, &voters).await;
    leader.add_learner(NodeId(4)).await.expect("add learner");

    // Keep the leader a voter; swap the other two around it.
    let l = leader.node_id().0;
    let demoted = if l == 3 { 2 } else { 3 };
    let kept: Vec<u64> = [1, 2, 3].into_iter().filter(|&n| n != demoted).collect();
    let new_voters = set(&[kept[0], kept[1], 4]);
    leader
        .change_membership(new_voters.clone(), set(&[demoted]))
        .await
        .expect("promote and demote");
    assert_eq!(
        leader.voters(),
        new_voters.iter().copied().collect::<Vec<_>>()
    );
    assert_eq!(leader.learners(), ids(&[demoted]));
    let all = ids(&[1, 2, 3, 4]);
    c.propose(r, &all, puts(r, 30, 30)).await;
    assert_eq!(c.converged(r, &all).await, expected(r, 60));
    assert_eq!(
        c.node(NodeId(4)).applier.memberships.lock().last(),
        Some(&(new_voters.iter().copied().collect(), ids(&[demoted])))
    );

    leader
        .change_membership(new_voters.clone(), BTreeSet::new())
        .await
        .expect("remove");
    assert_eq!(
        leader.voters(),
        new_voters.iter().copied().collect::<Vec<_>>()
    );
    assert!(leader.learners().is_empty());
    let remaining: Vec<NodeId> = new_voters.iter().copied().collect();
    c.propose(r, &remaining, puts(r, 60, 30)).await;
    assert_eq!(c.converged(r, &remaining).await, expected(r, 90));
    // The removed replica no longer receives the log; destroying it deletes its raft state.
    let removed = c.node(NodeId(demoted));
    assert_eq!(removed.data(r), expected(r, 60));
    let group = removed.router.remove(r).expect("removed replica's group");
    group.destroy().await;
    let prefix = r.0.to_be_bytes();
    let end = (r.0 + 1).to_be_bytes();
    assert_eq!(
        removed.engine.scan(Cf::Raft, &prefix, &end, false).count(),
        0,
        "raft keys left"
    );
    assert_eq!(
        removed.engine.scan(Cf::State, &prefix, &end, false).count(),
        0,
        "state keys left"
    );
    c.propose(r, &remaining, puts(r, 90, 10)).await;
    assert_eq!(c.converged(r, &remaining).await, expected(r, 100));
    c.stop().await;
    eprintln!("change_membership: {:?}", started.elapsed());
}

fn open_fjall(dir: &std::path::Path) -> Arc<dyn Engine> {
    let deadline = Instant::now() + WAIT;
    loop {
        match FjallEngine::open(dir) {
            Ok(e) => return Arc::new(e),
            // The previous engine is released when the last task holding it ends.
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("reopen {}: {e}", dir.display()),
        }
    }
}

#[tokio::test]
async fn restart_from_disk_keeps_everything_applied() {
    let started = Instant::now();
    let r = RangeId(5);
    let cfg = RaftConfig {
        snapshot_after_logs: 40,
        logs_kept_after_snapshot: 5,
        ..RaftConfig::fast()
    };
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let all = ids(&[1, 2, 3]);
    let before = {
        let mut c =
            ToyCluster::with_engines(dirs.iter().map(|d| open_fjall(d.path())).collect()).await;
        c.create_range(r, 3, &cfg).await;
        c.propose(r, &all, puts(r, 0, 100)).await;
        let data = c.converged(r, &all).await;
        // The snapshot, and the purge after it, are built in the background: wait for them.
        let deadline = Instant::now() + WAIT;
        while c.leader(r, &all).await.purged_index() == 0 {
            assert!(Instant::now() < deadline, "restart with a purged log");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c.stop().await;
        data
    };
    assert_eq!(before, expected(r, 100));

    let mut c = ToyCluster::with_engines(dirs.iter().map(|d| open_fjall(d.path())).collect()).await;
    for node in &c.nodes {
        let g = node.open(r, &cfg).await;
        assert_eq!(node.data(r), before, "{} recovered its data", node.id);
        assert!(
            g.applied_index() >= 100,
            "{}: applied {}",
            node.id,
            g.applied_index()
        );
        g.initialize(&all).await.expect("initialize is idempotent");
    }
    let leader = c.leader(r, &all).await;
    assert_eq!(leader.voters(), all);
    c.propose(r, &all, puts(r, 100, 10)).await;
    assert_eq!(c.converged(r, &all).await, expected(r, 110));
    c.stop().await;
    eprintln!("restart_from_disk: {:?}", started.elapsed());
}

async fn idle_cpu_per_replica(replicas: usize, over: Duration) -> f64 {
    let cpu = thread_cpu();
    tokio::time::sleep(over).await;
    let used = thread_cpu() - cpu;
    100.0 * used.as_secs_f64() / over.as_secs_f64() / replicas as f64
}

#[tokio::test]
async fn fifty_groups_elect_take_writes_and_quiesce() {
    crate::init_tracing();
    let started = Instant::now();
    // 150 replicas on one thread of a debug build: a gentler heartbeat than `fast()`.
    let cfg = RaftConfig {
        heartbeat: Duration::from_millis(250),
        election_timeout_min: Duration::from_millis(500),
        election_timeout_max: Duration::from_millis(1000),
        ..RaftConfig::fast()
    };
    let mut c = ToyCluster::start(3).await;
    let all = ids(&[1, 2, 3]);
    let ranges: Vec<RangeId> = (100..150).map(RangeId).collect();
    join_all(ranges.iter().map(|&r| c.create_range(r, 3, &cfg))).await;
    join_all(ranges.iter().map(|&r| c.propose(r, &all, puts(r, 0, 5)))).await;
    for &r in &ranges {
        assert_eq!(c.converged(r, &all).await, expected(r, 5));
    }
    let elected = started.elapsed();

    let replicas = ranges.len() * 3;
    let awake = idle_cpu_per_replica(replicas, Duration::from_secs(1)).await;
    // Quiesce leaders last and wake them first, as DESIGN.md advises.
    let groups: Vec<RaftGroup> = c.nodes.iter().flat_map(|n| n.router.groups()).collect();
    for g in groups.iter().filter(|g| !g.is_leader()) {
        g.set_quiescent(true);
    }
    for g in groups.iter().filter(|g| g.is_leader()) {
        g.set_quiescent(true);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let quiet = idle_cpu_per_replica(replicas, Duration::from_secs(1)).await;
    eprintln!(
        "50 groups x 3 replicas: elected and written in {elected:?}; idle CPU per replica: \
         {awake:.4}% of a core with heartbeats ({:?} heartbeat), {quiet:.4}% quiesced",
        cfg.heartbeat
    );
    assert!(quiet < awake, "quiescence saves CPU");

    // A proposal wakes a quiesced leader.
    for &r in &ranges[..5] {
        let leader = c.leader(r, &all).await;
        leader
            .propose(puts(r, 5, 1).remove(0))
            .await
            .expect("propose after quiescence");
        for &id in &all {
            c.node(id).group(r).set_quiescent(false);
        }
        assert_eq!(c.converged(r, &all).await, expected(r, 6));
    }
    c.stop().await;
    eprintln!("fifty_groups: {:?}", started.elapsed());
}

/// A message for a range a node has no group for goes to its factory; a refusing factory, or
/// garbage on the wire, is an error for the sender and nothing worse for the receiver.
#[tokio::test]
async fn unknown_range_opens_a_group_through_the_factory() {
    let started = Instant::now();
    let r = RangeId(7);
    let cfg = RaftConfig::fast();
    let mut c = ToyCluster::start(3).await;
    c.nodes[1].set_factory(&cfg, false);
    c.nodes[2].set_factory(&cfg, true);
    c.create_range(r, 1, &cfg).await;
    let one = ids(&[1]);
    c.propose(r, &one, puts(r, 0, 5)).await;
    let leader = c.leader(r, &one).await;

    leader.add_learner(NodeId(2)).await.expect("learner on n2");
    assert_eq!(c.nodes[1].created.lock().clone(), vec![r]);
    assert_eq!(c.converged(r, &ids(&[1, 2])).await, expected(r, 5));

    // n3 refuses: the learner never catches up, and n3 has no group.
    let mut short = leader.clone();
    let refused = tokio::time::timeout(Duration::from_secs(1), short.add_learner(NodeId(3))).await;
    assert!(
        !matches!(refused, Ok(Ok(()))),
        "a refused learner cannot catch up"
    );
    assert!(!c.nodes[2].created.lock().is_empty());
    assert!(c.nodes[2].router.get(r).is_none());
    short = leader.clone();
    short
        .change_membership(set(&[1]), set(&[2]))
        .await
        .expect("drop n3");

    // Garbage for every raft method: an error, and the node keeps serving.
    for method in [
        "raft.append",
        "raft.vote",
        "raft.pre_vote",
        "raft.snapshot",
        "raft.transfer_leader",
    ] {
        let res: Result<(), _> = c.nodes[0]
            .rpc
            .rpc
            .call(Target::Node(NodeId(2)), method, &(1u8, "junk"))
            .await;
        assert!(res.is_err(), "{method} accepted garbage");
    }
    c.propose(r, &one, puts(r, 5, 5)).await;
    assert_eq!(c.converged(r, &ids(&[1, 2])).await, expected(r, 10));
    c.stop().await;
    eprintln!("unknown_range_factory: {:?}", started.elapsed());
}
