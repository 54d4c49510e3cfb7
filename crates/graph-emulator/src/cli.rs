//! The command line: `graph-emulator` (and the daemon's `entra-sync emulator`) flags, and
//! [`run`], which starts an emulator, prints how to reach it, and serves until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::config::EmulatorConfig;
use crate::server::{GraphEmulator, Running, StartError};

/// How [`run`] prints the URLs and credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Lines for a person.
    Text,
    /// One JSON line for scripts.
    Json,
}

/// Flags of the emulator command.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4580")]
    pub listen: SocketAddr,
    /// The URL clients reach the emulator at, named in the links and tokens it hands out
    /// (default: `http://` and the listen address). Needed with a wildcard `--listen` such as
    /// `0.0.0.0:4580`, e.g. `--public-url http://emulator:4580` in a container network.
    #[arg(long, value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Seed of the tenant generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Users per tenant.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Groups per tenant (the well-known groups included); 0 generates none.
    #[arg(long, default_value_t = 40)]
    pub groups: usize,
    /// Number of tenants.
    #[arg(long, default_value_t = 1)]
    pub tenants: usize,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Enforce the resource-unit throttling model.
    #[arg(long)]
    pub throttle: bool,
    /// Access token lifetime: seconds (`3599`) or a duration (`1h`, `90s`).
    #[arg(long, default_value = "3599", value_name = "DURATION", value_parser = parse_lifetime)]
    pub token_lifetime: Duration,
    /// Scenario file (JSON) sizing tenants and adding named users and groups.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Output format of the start-up banner.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Where to write each demo app's certificate and private key, and with `--tls` the CA
    /// (`ca.pem`) (default: a `graph-emulator-{pid}` folder in the temporary directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve HTTPS with a certificate for 127.0.0.1/localhost from a local CA generated at
    /// start; the CA's PEM is written to `{data-dir}/ca.pem` and printed.
    #[arg(long)]
    pub tls: bool,
}

fn parse_public_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("an http:// or https:// URL with a host is needed".to_owned());
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(
            "a base URL without a path or query is needed, e.g. http://emulator:4580".to_owned(),
        );
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn parse_lifetime(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(value).map_err(|e| format!("not a duration: {e}")),
    }
}

impl EmulatorArgs {
    /// The emulator configuration these flags describe.
    pub fn config(&self) -> EmulatorConfig {
        EmulatorConfig {
            seed: self.seed,
            users: self.users,
            groups: self.groups,
            tenants: self.tenants.max(1),
            latency: Duration::from_millis(self.latency_ms),
            throttle: self.throttle,
            token_lifetime: self.token_lifetime.max(Duration::from_secs(1)),
            scenario: self.scenario.clone(),
            listen: Some(self.listen),
            public_url: self.public_url.clone(),
            // Per process: two emulators must not overwrite each other's key pairs.
            data_dir: Some(self.data_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("graph-emulator-{}", std::process::id()))
            })),
            tls: self.tls,
            ..EmulatorConfig::default()
        }
    }
}

/// What [`run`] prints on start: URLs and each tenant's demo app credentials (with
/// [`Output::Json`], one JSON line: `graph_url`, `authority_url`, `control_url`, `tenants`).
pub fn banner(running: &Running, output: Output) -> String {
    let demos: Vec<_> = running
        .tenants
        .iter()
        .filter(|c| c.name == "demo")
        .collect();
    match output {
        Output::Json => {
            let tenants: Vec<_> = demos
                .iter()
                .map(|c| {
                    json!({
                        "tenant_id": c.tenant_id,
                        "tenant_domain": c.tenant_domain,
                        "client_id": c.client_id,
                        "client_secret": c.client_secret,
                        "certificate_pem": c.certificate_path,
                        "private_key_pem": c.private_key_path,
                        "certificate_thumbprint_sha256": c.certificate_thumbprint_sha256,
                        "roles": c.roles,
                    })
                })
                .collect();
            json!({
                "graph_url": running.graph_url,
                "authority_url": running.authority_url,
                "control_url": running.control_url,
                "ca_pem": running.ca_path,
                "tenants": tenants,
            })
            .to_string()
        }
        Output::Text => {
            let mut out = format!(
                "Graph emulator listening\n  Graph:      {}\n  Authority:  {}  (token endpoint: {{authority}}/{{tenant}}/oauth2/v2.0/token)\n  Control:    {}\n",
                running.graph_url, running.authority_url, running.control_url
            );
            if let Some(ca) = &running.ca_path {
                out.push_str(&format!(
                    "  CA:         {}  (trust it: SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)\n",
                    ca.display()
                ));
            }
            for c in demos {
                out.push_str(&format!(
                    "Tenant {} ({})\n  client id:     {}\n  client secret: {}\n",
                    c.tenant_id, c.tenant_domain, c.client_id, c.client_secret
                ));
                if let (Some(cert), Some(key)) = (&c.certificate_path, &c.private_key_path) {
                    out.push_str(&format!(
                        "  certificate:   {}\n  private key:   {}\n",
                        cert.display(),
                        key.display()
                    ));
                }
                out.push_str(&format!("  permissions:   {}\n", c.roles.join(", ")));
            }
            out.trim_end().to_owned()
        }
    }
}

/// Starts an emulator, prints its URLs and the demo apps' credentials, and serves until
/// `shutdown` completes.
pub async fn run(args: EmulatorArgs, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let running = GraphEmulator::start(args.config()).await?;
    println!("{}", banner(&running, args.output));
    shutdown.await;
    running.shutdown().await;
    Ok(())
}
