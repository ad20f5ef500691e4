//! `sextant cert list`: what a certs directory holds.

use crate::{CertError, CertsDir};
use std::fmt::Write;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Usage {
    /// `ca.crt`.
    Ca,
    /// `node.crt`.
    Node,
    /// `client.<user>.crt`.
    Client,
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Usage::Ca => "CA",
            Usage::Node => "Node",
            Usage::Client => "Client",
        })
    }
}

/// One certificate file of a certs directory, as `cert list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// What it is for.
    pub usage: Usage,
    /// Its file name.
    pub cert_file: String,
    /// Its key's file name (none for the CA, whose key lives elsewhere).
    pub key_file: Option<String>,
    /// When the first certificate in the file expires (none when it could not be read).
    pub expires: Option<OffsetDateTime>,
    /// `num certs: N`, `addresses: a,b` or `user: <CN>`.
    pub notes: String,
    /// What is wrong with the file or its key, if anything.
    pub error: Option<String>,
}

/// The certificates in `dir`: the CA first, then the node's, then clients' by name. Files
/// that are not certificates of the layout are left out.
pub fn list(dir: &CertsDir) -> Result<Vec<CertInfo>, CertError> {
    let entries = std::fs::read_dir(dir.path()).map_err(|source| CertError::Io {
        path: dir.path().to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CertError::Io {
            path: dir.path().to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let (usage, key_file) = match name.as_str() {
            "ca.crt" => (Usage::Ca, None),
            "node.crt" => (Usage::Node, Some("node.key".to_string())),
            other => match other
                .strip_prefix("client.")
                .and_then(|r| r.strip_suffix(".crt"))
            {
                Some(user) if !user.is_empty() => {
                    (Usage::Client, Some(format!("client.{user}.key")))
                }
                _ => continue,
            },
        };
        out.push(inspect(dir, usage, name, key_file));
    }
    out.sort_by(|a, b| (a.usage, &a.cert_file).cmp(&(b.usage, &b.cert_file)));
    Ok(out)
}

fn inspect(dir: &CertsDir, usage: Usage, cert_file: String, key_file: Option<String>) -> CertInfo {
    let mut info = CertInfo {
        usage,
        cert_file,
        key_file,
        expires: None,
        notes: String::new(),
        error: None,
    };
    let path = dir.path().join(&info.cert_file);
    let pem = match std::fs::read(&path) {
        Ok(p) => p,
        Err(e) => {
            info.error = Some(e.to_string());
            return info;
        }
    };
    let ders: Result<Vec<Vec<u8>>, String> = Pem::iter_from_buffer(&pem)
        .map(|p| p.map(|p| p.contents).map_err(|e| e.to_string()))
        .collect();
    let ders = match ders {
        Ok(d) if !d.is_empty() => d,
        Ok(_) => {
            info.error = Some("no certificate in the file".into());
            return info;
        }
        Err(e) => {
            info.error = Some(format!("not a PEM file: {e}"));
            return info;
        }
    };
    let first = match x509_parser::parse_x509_certificate(&ders[0]) {
        Ok((_, c)) => c,
        Err(e) => {
            info.error = Some(format!("not a certificate: {e}"));
            return info;
        }
    };
    info.expires = Some(first.validity().not_after.to_datetime());
    info.notes = match usage {
        Usage::Ca => format!("num certs: {}", ders.len()),
        Usage::Node => format!("addresses: {}", addresses(&first).join(",")),
        Usage::Client => format!("user: {}", common_name(&first).unwrap_or_default()),
    };
    if let Some(key) = &info.key_file
        && !dir.path().join(key).exists()
    {
        info.error = Some(format!("key file {key} not found"));
    }
    info
}

fn addresses(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_string()),
            GeneralName::IPAddress(b) => ip_text(b),
            _ => None,
        })
        .collect()
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(std::net::Ipv4Addr::from(v4).to_string());
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| std::net::Ipv6Addr::from(v6).to_string())
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

/// The DER of the first certificate of a PEM text.
pub(crate) fn first_cert_der(pem: &str) -> Result<Vec<u8>, String> {
    match Pem::iter_from_buffer(pem.as_bytes()).next() {
        Some(Ok(p)) => Ok(p.contents),
        Some(Err(e)) => Err(format!("not a PEM file: {e}")),
        None => Err("no certificate in the file".into()),
    }
}

/// The subject public key of a DER certificate (the raw key, as `KeyPair::public_key_raw`).
pub(crate) fn public_key_of(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

/// `cert list`'s output: the directory, then a table of `Usage`, `Certificate File`, `Key
/// File`, `Expires` (`YYYY/MM/DD`), `Notes` and `Error`, then the row count.
pub fn format_list(dir: &CertsDir, certs: &[CertInfo]) -> String {
    let header = [
        "Usage",
        "Certificate File",
        "Key File",
        "Expires",
        "Notes",
        "Error",
    ];
    let rows: Vec<[String; 6]> = certs
        .iter()
        .map(|c| {
            [
                c.usage.to_string(),
                c.cert_file.clone(),
                c.key_file.clone().unwrap_or_default(),
                c.expires
                    .map(|t| format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day()))
                    .unwrap_or_default(),
                c.notes.clone(),
                c.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut width = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 6]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!(" {c:<w$} "))
            .collect();
        parts.join("|").trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "Certificate directory: {}", dir.path().display());
    let _ = writeln!(out, "{}", line(&header.map(str::to_string)));
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(w + 2)).collect();
    let _ = writeln!(out, "{}", rule.join("+"));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    let _ = writeln!(
        out,
        "({} row{})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    out
}
