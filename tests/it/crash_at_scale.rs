//! Crash convergence at seeded points: the real binary is killed (SIGKILL) at random points of a
//! full run and of the delta run after a round of changes, and restarted each time. Every
//! restart must end in exactly the tables of an uninterrupted full-then-delta sequence, keyed
//! by Entra id, with the same inbound-log rows per person.
//!
//! CI runs a small tenant and a few points. The figures in RELIABILITY.md come from
//! `CRASH_PEOPLE=10000 CRASH_POINTS=20 cargo test --release --test it -- crash_at_scale
//! --nocapture`; `CRASH_SEED` repeats a run (each run prints its seed).

use std::collections::BTreeMap;
use std::process::Child;
use std::time::Duration;

use graph_emulator::directory::UserProp;
use graph_emulator::{Running, well_known};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use crate::crash::{Rows, finish, progress, scalar, semantic, spawn_sync_with, write_config};
use crate::emulator::start;
use crate::support::{backends, fresh_like};

/// The delta run's changes are read, mirrored and applied in batches of this many people.
const BATCH: i64 = 500;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

/// The changes between the full run and the delta run, the same for every repetition of a
/// seed: updates (at least two batches' worth), soft deletes, disabled accounts and people
/// leaving All Company.
fn churn(running: &Running, tenant: Uuid, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids: Vec<Uuid> = running
        .control
        .with_directory(tenant, |d| {
            d.live_users()
                .filter(|u| u.account_enabled)
                .map(|u| u.id)
                .collect()
        })
        .expect("the tenant");
    ids.sort();
    ids.shuffle(&mut rng);
    let n = ids.len();
    let updated = (n * 8 / 100).max(3 * BATCH as usize).min(n * 6 / 10);
    let removed = n * 3 / 200;
    let (changed, rest) = ids.split_at(updated);
    let (deleted, rest) = rest.split_at(removed);
    let (disabled, rest) = rest.split_at(removed);
    let leaving = &rest[..removed];
    let group = running
        .control
        .find_group(tenant, well_known::ALL_COMPANY)
        .expect("All Company");
    let control = &running.control;
    for (i, id) in changed.iter().enumerate() {
        let title = format!("Changed {} {}", i, rng.random_range(0..1000));
        control
            .update_user(
                tenant,
                *id,
                json!({"jobTitle": title, "department": "Moved"}),
            )
            .expect("an update");
    }
    for id in deleted {
        control.soft_delete_user(tenant, *id).expect("a deletion");
    }
    for id in disabled {
        control
            .update_user(tenant, *id, json!({"accountEnabled": false}))
            .expect("disabled");
    }
    for id in leaving {
        // Guests and people already outside the group stay as they are.
        let _ = control.remove_member(tenant, group, *id);
    }
}

/// The inbound-log rows per person: (Entra id, notification, action) → rows.
async fn log_per_person(url: &str) -> Rows {
    let mut rows = crate::crash::text_rows(
        url,
        "SELECT entra_id, notification, action, COUNT(*) FROM inbound_log \
         WHERE entra_id IS NOT NULL GROUP BY entra_id, notification, action",
    )
    .await;
    rows.sort();
    rows
}

/// Everything compared: the semantic tables and the inbound log per person.
async fn state(url: &str) -> BTreeMap<&'static str, Rows> {
    let mut state = semantic(url).await;
    state.insert("inbound_log per person", log_per_person(url).await);
    state
}

/// Waits until committed progress reaches `target`, then SIGKILLs the child. False when the
/// child ended first.
async fn kill_at(mut child: Child, url: &str, target: i64) -> bool {
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if progress(url).await >= target {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
            return true;
        }
        // Polling for progress, not timing anything.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Whether run 1 (the full run) or run 2 (the delta run) is still recorded running.
async fn still_running(url: &str, run: usize) -> bool {
    const RUNNING: [&str; 2] = [
        "SELECT COUNT(*) FROM sync_runs WHERE id = 1 AND status = 'running'",
        "SELECT COUNT(*) FROM sync_runs WHERE id = 2 AND status = 'running'",
    ];
    scalar(url, RUNNING[run - 1]).await == 1
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Full,
    Delta,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_killed_at_seeded_points_of_full_and_delta_runs_converge() {
    let people = setting("CRASH_PEOPLE", 1_200) as usize;
    let points = setting("CRASH_POINTS", 4);
    let seed = setting("CRASH_SEED", rand::random::<u64>() % 1_000_000);
    eprintln!("crash convergence: {people} people, {points} kill points, CRASH_SEED={seed}");
    let running = start(graph_emulator::EmulatorConfig {
        users: people,
        latency: Duration::from_millis(20),
        ..graph_emulator::EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).expect("a demo app").tenant_id;
    let dir = tempfile::tempdir().expect("a temp dir");
    let dir = dir.path();
    let sync = |url: &str, args: &'static [&'static str]| spawn_sync_with(dir, url, args);

    for db in backends().await {
        let backend = db.url.split(':').next().unwrap_or_default().to_owned();
        // The uninterrupted sequence.
        running.control.reset().expect("reset");
        write_config(dir, &running, &db.url);
        finish(sync(&db.url, &["--full"]), "the full run").await;
        let after_full = progress(&db.url).await;
        churn(&running, tenant, seed);
        finish(sync(&db.url, &[]), "the delta run").await;
        let end = progress(&db.url).await;
        let expected = state(&db.url).await;
        assert!(
            end - after_full > BATCH,
            "the delta run logs more than a batch: {after_full} → {end}"
        );
        db.cleanup().await;

        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let (mut converged, mut redrawn) = (0, 0);
        while converged < points {
            // Half the points in full runs, half in delta runs.
            let phase = if converged % 2 == 0 {
                Phase::Full
            } else {
                Phase::Delta
            };
            // A point at least a batch before the end, so that the kill falls inside the run.
            let target = match phase {
                Phase::Full => rng.random_range(1..after_full - BATCH),
                Phase::Delta => rng.random_range(after_full + 1..end - BATCH),
            };
            let db = fresh_like(&backend).await;
            running.control.reset().expect("reset");
            write_config(dir, &running, &db.url);
            let killed_run = match phase {
                Phase::Full => 1,
                Phase::Delta => {
                    finish(sync(&db.url, &["--full"]), "the full run").await;
                    churn(&running, tenant, seed);
                    2
                }
            };
            let args: &'static [&'static str] = match phase {
                Phase::Full => &["--full"],
                Phase::Delta => &[],
            };
            let killed = kill_at(sync(&db.url, args), &db.url, target).await;
            let mid_run = killed && still_running(&db.url, killed_run).await;
            let at_kill = progress(&db.url).await;
            // The restart waits for the killed run's lease, takes the run over and resumes it.
            finish(sync(&db.url, &["--wait"]), "the restart").await;
            if let Phase::Full = phase {
                churn(&running, tenant, seed);
                finish(sync(&db.url, &[]), "the delta run").await;
            }
            let got = state(&db.url).await;
            for (table, rows) in &expected {
                assert_eq!(
                    &got[table], rows,
                    "{backend}, {phase:?} run killed at {target} (progress {at_kill}), \
                     CRASH_SEED={seed}: {table} differs"
                );
            }
            if mid_run {
                converged += 1;
                eprintln!(
                    "{backend}: point {converged}/{points}: {phase:?} run killed at progress \
                     {at_kill} (target {target}; {after_full} after the full run, {end} at the \
                     end) converged"
                );
            } else {
                // The run ended between a poll and the kill: no crash, so no point. Draw again.
                redrawn += 1;
                assert!(redrawn <= points, "too many kills came after the run's end");
            }
            db.cleanup().await;
        }
        eprintln!(
            "{backend}: {converged} of {points} kill points converged ({redrawn} drawn again)"
        );
    }
}

/// Keeps the seeded helpers honest: two repetitions of a seed change the same people.
#[tokio::test]
async fn the_churn_of_a_seed_is_the_same_every_time() {
    let running = start(graph_emulator::EmulatorConfig {
        users: 300,
        ..graph_emulator::EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).unwrap().tenant_id;
    let snapshot = |running: &Running| {
        running
            .control
            .with_directory(tenant, |d| {
                let mut users: Vec<String> = d
                    .live_users()
                    .map(|u| {
                        format!(
                            "{} {:?} {}",
                            u.id,
                            u.text(UserProp::JobTitle),
                            u.account_enabled
                        )
                    })
                    .collect();
                users.sort();
                users
            })
            .unwrap()
    };
    let before = snapshot(&running);
    churn(&running, tenant, 7);
    let first = snapshot(&running);
    running.control.reset().unwrap();
    assert_eq!(snapshot(&running), before, "reset regenerates the tenant");
    churn(&running, tenant, 7);
    assert_eq!(snapshot(&running), first);
    running.control.reset().unwrap();
    churn(&running, tenant, 8);
    assert_ne!(
        snapshot(&running),
        first,
        "another seed changes other people"
    );
}
