//! Certificates for tests: a CA, a node certificate for the loopback names and a `root`
//! client certificate, made once per call in a directory of the caller's.

use crate::{CertError, CertsDir, CreateOptions, KeySize};
use std::path::Path;

/// Creates `<base>/certs` with `ca.crt`, `node.crt`/`.key` (for `localhost`, `127.0.0.1` and
/// `::1`) and `client.root.crt`/`.key`; the CA key goes to `<base>/ca.key`.
pub fn make_certs(base: &Path) -> Result<CertsDir, CertError> {
    let dir = CertsDir::new(base.join("certs"));
    let ca_key = base.join("ca.key");
    let now = time::OffsetDateTime::now_utc();
    let opts = CreateOptions {
        key_size: KeySize::Rsa2048,
        lifetime: CreateOptions::CERT_LIFETIME,
        overwrite: false,
        allow_ca_key_reuse: false,
    };
    crate::create_ca(&dir, &ca_key, &opts, now)?;
    let hosts = ["localhost", "127.0.0.1", "::1"].map(String::from);
    crate::create_node(&dir, &ca_key, &hosts, &opts, now)?;
    crate::create_client(&dir, &ca_key, "root", &opts, now)?;
    Ok(dir)
}
