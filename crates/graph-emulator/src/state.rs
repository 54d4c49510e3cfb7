//! The state one running emulator shares between its handlers: tenants with their directory
//! and apps, issued tokens, counters, scripted faults and throttling buckets.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{
    Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

use axum::Router;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use uuid::Uuid;

use crate::auth::apps::{AppRegistration, FEDERATED_AUDIENCE, FederatedCredential};
use crate::auth::grants::TokenStore;
use crate::auth::keys::{KeyError, KeyMaterial, KeySlot, cached_key};
use crate::config::EmulatorConfig;
use crate::counters::Counters;
use crate::directory::Directory;
use crate::faults::FaultBook;
use crate::generator::{TenantSize, generate};
use crate::scenario::Scenario;
use crate::throttle::Throttle;

/// Locks a mutex, recovering from poisoning: a panicked handler must not wedge the emulator.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks, recovering from poisoning.
pub fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks, recovering from poisoning.
pub fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

/// One tenant: its directory and the apps registered in it.
#[derive(Debug)]
pub struct Tenant {
    /// Tenant id.
    pub id: Uuid,
    /// Initial domain (`contoso.onmicrosoft.com`).
    pub domain: String,
    /// Users, groups, SKUs.
    pub directory: RwLock<Directory>,
    /// App registrations.
    pub apps: RwLock<Vec<AppRegistration>>,
}

impl Tenant {
    /// An app by client id.
    pub fn app(&self, client_id: &str) -> Option<AppRegistration> {
        let id = Uuid::parse_str(client_id).ok()?;
        read(&self.apps).iter().find(|a| a.client_id == id).cloned()
    }
}

/// Base URLs the emulator answers on.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `http://127.0.0.1:PORT/v1.0`
    pub graph: String,
    /// `http://127.0.0.1:PORT`
    pub authority: String,
    /// `http://127.0.0.1:PORT/_emulator`
    pub control: String,
}

/// Shared state of one running emulator.
#[derive(Debug)]
pub struct Emulator {
    /// The configuration it started with.
    pub config: EmulatorConfig,
    /// Where it answers.
    pub urls: Urls,
    /// Tenants (replaced wholesale by a reset).
    pub tenants: RwLock<Vec<Arc<Tenant>>>,
    /// Signs access and id tokens.
    pub signing_key: Arc<KeyMaterial>,
    /// Issued access tokens, codes and refresh tokens.
    pub tokens: Mutex<TokenStore>,
    /// Requests by endpoint and status.
    pub counters: Mutex<Counters>,
    /// Scripted faults.
    pub faults: Mutex<FaultBook>,
    /// Resource-unit buckets.
    pub throttle: Mutex<Throttle>,
    /// Bumped by every reset so tokens from before it stop working.
    pub epoch: AtomicU32,
    /// The Graph router, for `$batch` to dispatch its parts through the same pipeline.
    pub graph_router: OnceLock<Router>,
}

impl Emulator {
    /// Builds the state: generates (or loads) every tenant and registers its apps.
    pub fn new(
        config: EmulatorConfig,
        urls: Urls,
        scenario: Option<Scenario>,
    ) -> Result<Self, KeyError> {
        let tenants = build_tenants(&config, scenario.as_ref())?;
        Ok(Self {
            signing_key: cached_key(KeySlot::TokenSigning)?,
            tenants: RwLock::new(tenants),
            tokens: Mutex::new(TokenStore::default()),
            counters: Mutex::new(Counters::default()),
            faults: Mutex::new(FaultBook::new(config.seed)),
            throttle: Mutex::new(Throttle::default()),
            epoch: AtomicU32::new(1),
            graph_router: OnceLock::new(),
            urls,
            config,
        })
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }

    /// The current reset epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// A tenant by id or initial domain.
    pub fn tenant(&self, key: &str) -> Option<Arc<Tenant>> {
        let tenants = read(&self.tenants);
        match Uuid::parse_str(key) {
            Ok(id) => tenants.iter().find(|t| t.id == id).cloned(),
            Err(_) => tenants
                .iter()
                .find(|t| t.domain.eq_ignore_ascii_case(key))
                .cloned(),
        }
    }

    /// A tenant by id.
    pub fn tenant_by_id(&self, id: Uuid) -> Option<Arc<Tenant>> {
        read(&self.tenants).iter().find(|t| t.id == id).cloned()
    }

    /// Regenerates every tenant from the configuration, forgets tokens, counters, faults and
    /// buckets, and invalidates delta tokens issued before.
    pub fn reset(&self, scenario: Option<&Scenario>) -> Result<(), KeyError> {
        let tenants = build_tenants(&self.config, scenario)?;
        *write(&self.tenants) = tenants;
        *lock(&self.tokens) = TokenStore::default();
        *lock(&self.counters) = Counters::default();
        *lock(&self.faults) = FaultBook::new(self.config.seed);
        *lock(&self.throttle) = Throttle::default();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn build_tenants(
    config: &EmulatorConfig,
    scenario: Option<&Scenario>,
) -> Result<Vec<Arc<Tenant>>, KeyError> {
    let count = scenario.map_or(config.tenants, |s| s.tenants.len()).max(1);
    let mut tenants = Vec::with_capacity(count);
    for index in 0..count {
        let spec = scenario.and_then(|s| s.tenants.get(index));
        let size = TenantSize {
            users: spec.and_then(|s| s.users).unwrap_or(config.users),
            groups: spec.and_then(|s| s.groups).unwrap_or(config.groups),
        };
        let mut directory = generate(config.seed, index, size);
        if let Some(spec) = spec {
            spec.apply(&mut directory, config.clock.now());
        }
        let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(1_000 + index as u64));
        let start = config.clock.now();
        let lifetime = chrono::Duration::from_std(config.credential_lifetime)
            .unwrap_or(chrono::Duration::days(730));
        let mut demo =
            AppRegistration::new(&mut rng, "demo", config.app_roles.clone(), start, lifetime);
        demo.certificate = Some(cached_key(KeySlot::AppCertificate(index))?);
        demo.federated = Some(FederatedCredential {
            issuer: format!("https://federated.emulator.invalid/{index}"),
            subject: "system:serviceaccount:entra-sync:entra-sync".into(),
            audience: FEDERATED_AUDIENCE.into(),
            key: cached_key(KeySlot::FederatedIssuer(index))?,
        });
        let mut apps = vec![demo];
        for extra in &config.extra_apps {
            apps.push(AppRegistration::new(
                &mut rng,
                &extra.name,
                extra.roles.clone(),
                start,
                lifetime,
            ));
        }
        tenants.push(Arc::new(Tenant {
            id: directory.tenant_id,
            domain: directory.domain.clone(),
            directory: RwLock::new(directory),
            apps: RwLock::new(apps),
        }));
    }
    Ok(tenants)
}
