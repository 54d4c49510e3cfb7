//! A connection's `ca_file`: certificate authorities its Graph and token requests trust beside the
//! system's, read and checked when the configuration loads.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The certificate authorities of a connection's `ca_file`: one or more PEM `CERTIFICATE` blocks.
#[derive(Clone)]
pub struct TrustedCa {
    /// The file, resolved against the config file's directory.
    pub path: PathBuf,
    /// Its PEM text.
    pub pem: Vec<u8>,
    /// How many certificates it holds.
    pub certificates: usize,
}

impl std::fmt::Debug for TrustedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedCa")
            .field("path", &self.path)
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

impl TrustedCa {
    /// Reads `file` (relative to `base`); the problem names the file when it cannot be read, is
    /// not PEM or holds no certificate.
    pub fn read(file: &Path, base: &Path) -> Result<TrustedCa, String> {
        let path = base.join(file);
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut certificates = 0;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            certificate.map_err(|e| format!("{} is not valid PEM: {e}", path.display()))?;
            certificates += 1;
        }
        if certificates == 0 {
            return Err(format!(
                "{} holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)",
                path.display()
            ));
        }
        Ok(TrustedCa {
            path,
            pem,
            certificates,
        })
    }
}
