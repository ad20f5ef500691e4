//! `sextant cert create-ca | create-node | create-client`.

use crate::{CertError, CertsDir, normalize_user};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256, RsaKeySize,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// The organisation every certificate names.
const ORGANIZATION: &str = "Sextant";
/// How far before `now` a certificate becomes valid: a peer whose clock is a little behind
/// must not find a certificate from the future.
const BACKDATE: Duration = Duration::from_secs(3600);

/// RSA key sizes (`--key-size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySize {
    /// 2048 bits, the default.
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits.
    Rsa4096,
}

impl KeySize {
    /// The size for `bits`.
    pub fn from_bits(bits: u32) -> Result<Self, CertError> {
        match bits {
            2048 => Ok(Self::Rsa2048),
            3072 => Ok(Self::Rsa3072),
            4096 => Ok(Self::Rsa4096),
            other => Err(CertError::KeySize(other)),
        }
    }

    fn rcgen(self) -> RsaKeySize {
        match self {
            Self::Rsa2048 => RsaKeySize::_2048,
            Self::Rsa3072 => RsaKeySize::_3072,
            Self::Rsa4096 => RsaKeySize::_4096,
        }
    }
}

/// The flags every `create-*` command shares.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// `--key-size`.
    pub key_size: KeySize,
    /// `--lifetime`: how long the certificate is valid from now.
    pub lifetime: Duration,
    /// `--overwrite`: replace existing files (`create-ca` puts the new CA before the old ones
    /// in `ca.crt` instead, so certificates signed by either stay trusted).
    pub overwrite: bool,
    /// `--allow-ca-key-reuse` (`create-ca` only): sign the new CA with the existing key.
    pub allow_ca_key_reuse: bool,
}

impl CreateOptions {
    /// CockroachDB's CA lifetime: 10 × 366 days.
    pub const CA_LIFETIME: Duration = Duration::from_secs(87_840 * 3600);
    /// CockroachDB's node and client lifetime: 5 × 366 days.
    pub const CERT_LIFETIME: Duration = Duration::from_secs(43_920 * 3600);
}

/// Creates the cluster CA: its key at `ca_key` (kept unless reuse is refused) and its
/// certificate in `dir`'s `ca.crt`. Returns the files written.
pub fn create_ca(
    dir: &CertsDir,
    ca_key: &Path,
    opts: &CreateOptions,
    now: OffsetDateTime,
) -> Result<Vec<PathBuf>, CertError> {
    require_ca_key_path(ca_key)?;
    let cert_path = dir.ca_cert();
    if cert_path.exists() && !opts.overwrite {
        return Err(CertError::Exists(cert_path));
    }
    let mut written = Vec::new();
    let key = if ca_key.exists() {
        if !opts.allow_ca_key_reuse {
            return Err(CertError::CaKeyReuse(ca_key.to_path_buf()));
        }
        load_key(ca_key)?
    } else {
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, opts.key_size.rcgen())?;
        write_file(ca_key, key.serialize_pem().as_bytes(), KEY_MODE, false)?;
        written.push(ca_key.to_path_buf());
        key
    };
    let mut params = params_for("Sextant CA", now, opts.lifetime)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key)?.pem();
    // A replaced CA goes first; the older ones stay, so that certificates they signed are
    // trusted until they are replaced too.
    let old = if cert_path.exists() {
        std::fs::read_to_string(&cert_path).map_err(|source| CertError::Io {
            path: cert_path.clone(),
            source,
        })?
    } else {
        String::new()
    };
    write_file(
        &cert_path,
        format!("{pem}{old}").as_bytes(),
        CERT_MODE,
        true,
    )?;
    written.push(cert_path);
    Ok(written)
}

/// Creates `node.crt` and `node.key`, signed by the CA: `CN=node`, every host a DNS or IP
/// subject alternative name, good for serving and for node-to-node client authentication.
pub fn create_node(
    dir: &CertsDir,
    ca_key: &Path,
    hosts: &[String],
    opts: &CreateOptions,
    now: OffsetDateTime,
) -> Result<Vec<PathBuf>, CertError> {
    if hosts.is_empty() {
        return Err(CertError::NoHosts);
    }
    let mut params = CertificateParams::new(hosts.to_vec())?;
    fill(&mut params, "node", now, opts.lifetime);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    issue(dir, ca_key, params, opts, dir.node_cert(), dir.node_key())
}

/// Creates `client.<user>.crt` and `.key`, signed by the CA: `CN=<user>` (folded to lower
/// case), good for client authentication.
pub fn create_client(
    dir: &CertsDir,
    ca_key: &Path,
    user: &str,
    opts: &CreateOptions,
    now: OffsetDateTime,
) -> Result<Vec<PathBuf>, CertError> {
    let user = normalize_user(user)?;
    let mut params = params_for(&user, now, opts.lifetime)?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    issue(
        dir,
        ca_key,
        params,
        opts,
        dir.client_cert(&user),
        dir.client_key(&user),
    )
}

/// Signs `params` with the CA (its newest certificate in `ca.crt` and the key at `ca_key`)
/// and writes the certificate and a new key.
fn issue(
    dir: &CertsDir,
    ca_key: &Path,
    mut params: CertificateParams,
    opts: &CreateOptions,
    cert_path: PathBuf,
    key_path: PathBuf,
) -> Result<Vec<PathBuf>, CertError> {
    require_ca_key_path(ca_key)?;
    for p in [&cert_path, &key_path] {
        if p.exists() && !opts.overwrite {
            return Err(CertError::Exists(p.clone()));
        }
    }
    let signing_key = load_key(ca_key)?;
    let ca_path = dir.ca_cert();
    let ca_pem = std::fs::read_to_string(&ca_path).map_err(|source| CertError::Io {
        path: ca_path.clone(),
        source,
    })?;
    let newest = crate::list::first_cert_der(&ca_pem).map_err(|message| CertError::Parse {
        path: ca_path.clone(),
        message,
    })?;
    if crate::list::public_key_of(&newest).as_deref() != Some(signing_key.public_key_raw()) {
        return Err(CertError::CaMismatch {
            cert: ca_path,
            key: ca_key.to_path_buf(),
        });
    }
    let issuer = Issuer::from_ca_cert_der(&newest.into(), signing_key)?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, opts.key_size.rcgen())?;
    let cert = params.signed_by(&key, &issuer)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), KEY_MODE, true)?;
    write_file(&cert_path, cert.pem().as_bytes(), CERT_MODE, true)?;
    Ok(vec![cert_path, key_path])
}

fn params_for(
    common_name: &str,
    now: OffsetDateTime,
    lifetime: Duration,
) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    fill(&mut params, common_name, now, lifetime);
    Ok(params)
}

fn fill(params: &mut CertificateParams, common_name: &str, now: OffsetDateTime, life: Duration) {
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANIZATION);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = now - BACKDATE;
    params.not_after = now + life;
}

fn require_ca_key_path(ca_key: &Path) -> Result<(), CertError> {
    if ca_key.as_os_str().is_empty() {
        Err(CertError::CaKeyRequired)
    } else {
        Ok(())
    }
}

fn load_key(path: &Path) -> Result<KeyPair, CertError> {
    let pem = std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    KeyPair::from_pem(&pem).map_err(|e| CertError::Parse {
        path: path.to_path_buf(),
        message: format!("not a private key: {e}"),
    })
}

/// Private keys are readable by their owner only.
const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

fn write_file(path: &Path, data: &[u8], mode: u32, replace: bool) -> Result<(), CertError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).mode(mode);
    if replace {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut f = open.open(path).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)?;
    // `mode` applies to a new file only; a replaced one keeps its old mode unless set again.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(io)
}
