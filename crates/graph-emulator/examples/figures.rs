//! Release-mode figures: tenant generation time and peak memory for 100 000 users / 2 000
//! groups, and `users/delta` pages served per second with no latency.
//!
//! `cargo run --release -p graph-emulator --example figures [USERS] [GROUPS]`

use std::time::Instant;

use graph_emulator::generator::{TenantSize, generate};
use graph_emulator::{EmulatorConfig, GraphEmulator};
use serde_json::Value;

#[derive(serde::Deserialize)]
struct Page {
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
    value: Vec<serde::de::IgnoredAny>,
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let groups: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let before = peak_rss_mib().unwrap_or(0.0);

    let started = Instant::now();
    let directory = generate(42, 0, TenantSize { users, groups });
    let generation = started.elapsed();
    let memberships: usize = directory.groups.iter().map(|g| g.members.len()).sum();
    let after = peak_rss_mib().unwrap_or(0.0);
    println!(
        "generation: {users} users, {groups} groups, {memberships} memberships in {:.2} s",
        generation.as_secs_f64()
    );
    println!("peak RSS: {after:.0} MiB (process before generating: {before:.0} MiB)");
    drop(directory);

    let running = GraphEmulator::start(EmulatorConfig {
        users,
        groups,
        ..EmulatorConfig::default()
    })
    .await?;
    let app = running
        .demo_app(0)
        .ok_or_else(|| anyhow::anyhow!("no demo app"))?
        .clone();
    let client = reqwest::Client::new();
    let token: Value = client
        .post(running.token_endpoint(app.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id.to_string()),
            ("client_secret", &app.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let select = "id,userPrincipalName,mail,displayName,givenName,surname,jobTitle,department,officeLocation,city,country,accountEnabled,userType,assignedLicenses,employeeId,mobilePhone,businessPhones,manager";
    let mut pages = 0usize;
    let mut objects = 0usize;
    let started = Instant::now();
    for _ in 0..3 {
        let mut link = format!("{}/users/delta?$select={select}", running.graph_url);
        loop {
            let bytes = client
                .get(&link)
                .bearer_auth(&token)
                .header("Prefer", "odata.maxpagesize=999")
                .send()
                .await?
                .bytes()
                .await?;
            // Only the link and the item count: the figure is about the server, not about
            // building a JSON tree on the client.
            let page: Page = serde_json::from_slice(&bytes)?;
            pages += 1;
            objects += page.value.len();
            match page.next {
                Some(next) => link = next,
                None => break,
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "users/delta (initial rounds, maxpagesize=999, {} selected properties, no latency): {pages} pages, {objects} users in {elapsed:.2} s = {:.0} pages/s, {:.0} users/s",
        select.split(',').count(),
        pages as f64 / elapsed,
        objects as f64 / elapsed
    );
    println!(
        "peak RSS at the end: {:.0} MiB",
        peak_rss_mib().unwrap_or(0.0)
    );
    running.shutdown().await;
    Ok(())
}
