//! The optional TLS mode: a local certificate authority made at start-up, a server
//! certificate it signs for `127.0.0.1`, `::1` and `localhost`, and a listener that serves
//! HTTPS with it. Clients trust the CA's PEM (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`,
//! `NODE_EXTRA_CA_CERTS`) and run their real credential flows, which refuse `http` authorities.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

/// Why the TLS material could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Key or certificate generation failed.
    #[error("generating the local CA or server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("configuring TLS: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
    /// The CA file could not be written.
    #[error("writing the CA certificate to {path}: {source}")]
    Write {
        /// Where.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A local CA and the server configuration whose certificate it signed.
pub struct LocalCa {
    /// The CA certificate, PEM: what clients trust.
    pub ca_pem: String,
    /// The server side of TLS.
    pub server: Arc<ServerConfig>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

/// The host names the server certificate covers.
pub const SERVER_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

impl LocalCa {
    /// A fresh CA (ECDSA P-256) and a server certificate it signs for [`SERVER_NAMES`] (plus
    /// `extra_host`, the public URL's host when one is configured).
    pub fn generate(extra_host: Option<&str>) -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "graph-emulator local CA");
        ca_params.distinguished_name = name;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names: Vec<String> = SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect();
        if let Some(host) = extra_host.filter(|h| !SERVER_NAMES.contains(h)) {
            names.push(host.to_owned());
        }
        let server_key = KeyPair::generate()?;
        let mut server_params = CertificateParams::new(names)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "graph-emulator");
        server_params.distinguished_name = name;
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let chain = vec![
            CertificateDer::from(server_cert.der().to_vec()),
            CertificateDer::from(ca_cert.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut server =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, key)?;
        // axum serves HTTP/1.1 here (its `http2` feature is off): offering h2 would have
        // HTTP/2 clients (httpx in Microsoft's Python SDK) talk to a server that cannot answer.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }

    /// Writes the CA's PEM to `path` (creating its folder) and returns the path.
    pub fn write_ca(&self, path: &Path) -> Result<PathBuf, TlsError> {
        let write = || -> io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, &self.ca_pem)
        };
        write().map_err(|source| TlsError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(path.to_owned())
    }
}

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections are served over TLS. Handshakes run in their own tasks,
/// so a client that never finishes one does not hold up the others.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: tokio::task::AbortHandle,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Frees the port when the server stops.
        self.accepting.abort();
    }
}

impl TlsListener {
    /// Accepts on `listener` and hands out connections whose handshake succeeded.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, ready) = mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "Accepting a TLS connection failed.");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // The server is gone: stop accepting.
                if sender.is_closed() {
                    break;
                }
                let (acceptor, ready) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "A TLS handshake failed.");
                        }
                        Err(_) => tracing::debug!(%peer, "A TLS handshake timed out."),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local_addr,
            accepting: accepting.abort_handle(),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task only ends once this listener is gone; wait for shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
