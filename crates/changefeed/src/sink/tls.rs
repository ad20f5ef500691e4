//! TLS for sinks: the URI parameters the Kafka and webhook sinks share, and the one place
//! a rustls [`ClientConfig`] is built from them.
//!
//! CockroachDB's sinks take their TLS material in the sink URI, each PEM document base64
//! encoded so that it survives as a query value:
//!
//! | parameter | meaning |
//! |---|---|
//! | `ca_cert` | a CA to trust, in addition to the system's roots |
//! | `client_cert`, `client_key` | a certificate chain and its key, for mutual TLS (both or neither) |
//! | `insecure_tls_skip_verify` | accept any server certificate |
//!
//! 1. [`TlsParams::from_params`] decodes them from a sink's query parameters (bad base64,
//!    a bool that is not one, a certificate without its key are [`SinkError::Invalid`]).
//! 2. [`client_config`] turns them into a [`ClientConfig`] on the aws-lc-rs provider, named
//!    explicitly: the workspace also links rustls' ring provider (rskafka's TLS transport
//!    enables it), so rustls cannot pick a process default on its own.
//!
//! The Kafka sink hands the config to rskafka; the webhook sink hands it to reqwest. Neither
//! the key nor any PEM text ever appears in an error, and [`TlsParams`]'s `Debug` leaves the
//! key out.

use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::SinkError;

/// Query parameters [`TlsParams::from_params`] reads.
pub const PARAMS: &[&str] = &[
    "ca_cert",
    "client_cert",
    "client_key",
    "insecure_tls_skip_verify",
];

/// The TLS settings of a sink URI, decoded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsParams {
    /// `ca_cert`: PEM of CA certificates to trust besides the system's roots.
    pub ca_cert: Option<Vec<u8>>,
    /// `client_cert`: PEM of the certificate chain presented to the server.
    pub client_cert: Option<Vec<u8>>,
    /// `client_key`: PEM of `client_cert`'s private key. Never printed.
    pub client_key: Option<Vec<u8>>,
    /// `insecure_tls_skip_verify`: accept any server certificate.
    pub skip_verify: bool,
}

impl std::fmt::Debug for TlsParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = |v: &Option<Vec<u8>>| v.as_ref().map(|b| format!("{} bytes", b.len()));
        f.debug_struct("TlsParams")
            .field("ca_cert", &bytes(&self.ca_cert))
            .field("client_cert", &bytes(&self.client_cert))
            .field("client_key", &self.client_key.as_ref().map(|_| "redacted"))
            .field("skip_verify", &self.skip_verify)
            .finish()
    }
}

impl TlsParams {
    /// Reads [`PARAMS`] from decoded query parameters (of a repeated one, the first, as Go's
    /// `url.Values.Get` reads it).
    pub fn from_params(params: &[(String, String)]) -> Result<TlsParams, SinkError> {
        let get = |k: &str| param(params, k);
        let pem = |k: &str| get(k).map(|v| decode_pem(k, v)).transpose();
        let p = TlsParams {
            ca_cert: pem("ca_cert")?,
            client_cert: pem("client_cert")?,
            client_key: pem("client_key")?,
            skip_verify: match get("insecure_tls_skip_verify") {
                Some(v) => parse_bool("insecure_tls_skip_verify", v)?,
                None => false,
            },
        };
        match (&p.client_cert, &p.client_key) {
            (Some(_), None) => Err(SinkError::Invalid(
                "client_cert requires client_key to be set".into(),
            )),
            (None, Some(_)) => Err(SinkError::Invalid(
                "client_key requires client_cert to be set".into(),
            )),
            _ => Ok(p),
        }
    }

    /// Whether any TLS parameter was given.
    pub fn is_set(&self) -> bool {
        self != &TlsParams::default()
    }

    /// The name of the first TLS parameter given, in [`PARAMS`] order.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            self.ca_cert.is_some(),
            self.client_cert.is_some(),
            self.client_key.is_some(),
            self.skip_verify,
        ]
        .iter()
        .position(|given| *given)
        .map(|i| PARAMS[i])
    }
}

/// The first value of query parameter `name`, as Go's `url.Values.Get` returns it.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A boolean parameter as Go's `strconv.ParseBool` reads it; an empty value (`?flag` or
/// `?flag=`) is true.
pub(crate) fn parse_bool(name: &str, v: &str) -> Result<bool, SinkError> {
    match v {
        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(SinkError::Invalid(format!(
            "param {name} must be a bool: {v:?} is not one"
        ))),
    }
}

/// The PEM text in base64 parameter `name`.
pub(crate) fn decode_pem(name: &str, v: &str) -> Result<Vec<u8>, SinkError> {
    base64_decode(v)
        .ok_or_else(|| SinkError::Invalid(format!("param {name} must be base 64 encoded")))
}

/// Standard or URL-safe base64, padding optional. A space is a `+` that reached the query
/// unescaped (`base64 -w0` output pasted into the URI) and was decoded as a space.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' | b' ' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The crypto provider every sink's TLS uses.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(aws_lc_rs::default_provider()))
        .clone()
}

/// The system's trusted roots, read once (certificates that fail to load are skipped).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::debug!(errors = ?found.errors, "some system CA certificates did not load");
        }
        found.certs
    })
}

/// The certificates in PEM text `pem` of parameter `name`; at least one.
fn certificates(name: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, SinkError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SinkError::Invalid(format!("invalid {name}: {e}")))?;
    if certs.is_empty() {
        return Err(SinkError::Invalid(format!(
            "invalid {name}: no PEM certificate found"
        )));
    }
    Ok(certs)
}

/// A rustls client configuration for `p`: the system's roots plus `ca_cert` (or no
/// verification with `insecure_tls_skip_verify`), and `client_cert`/`client_key` when given.
pub fn client_config(p: &TlsParams) -> Result<ClientConfig, SinkError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Invalid(format!("TLS configuration: {e}")))?;
    let builder = if p.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerifier(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        if let Some(pem) = &p.ca_cert {
            for cert in certificates("ca_cert", pem)? {
                roots
                    .add(cert)
                    .map_err(|e| SinkError::Invalid(format!("invalid ca_cert: {e}")))?;
            }
        }
        if roots.is_empty() {
            return Err(SinkError::Invalid(
                "no trusted CA certificates: the system has none; give ca_cert or \
                 insecure_tls_skip_verify=true"
                    .into(),
            ));
        }
        builder.with_root_certificates(roots)
    };
    match (&p.client_cert, &p.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates("client_cert", cert)?;
            // The parser's error names the PEM section, never its content.
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| SinkError::Invalid(format!("invalid client_key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SinkError::Invalid(format!("invalid client_cert or client_key: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `insecure_tls_skip_verify`: every certificate is accepted; signatures are still checked so
/// that the handshake itself is sound.
#[derive(Debug)]
struct NoVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerifier {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("a$"), None);
        // "+/8=" is [0xfb, 0xff]; its '+' may arrive as a space, and URL-safe is "-_8".
        assert_eq!(base64_decode("+/8=").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64_decode(" /8=").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64_decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(
            base64_decode("aGVs\nbG8=\r\n").as_deref(),
            Some(&b"hello"[..])
        );
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("x", "true"), Ok(true));
        assert_eq!(parse_bool("x", ""), Ok(true));
        assert_eq!(parse_bool("x", "F"), Ok(false));
        assert_eq!(
            parse_bool("x", "maybe"),
            Err(SinkError::Invalid(
                "param x must be a bool: \"maybe\" is not one".into()
            ))
        );
    }

    #[test]
    fn params_decode_and_pair() {
        let p = TlsParams::from_params(&params(&[
            ("ca_cert", "aGVsbG8="),
            ("insecure_tls_skip_verify", "false"),
        ]))
        .expect("params");
        assert_eq!(p.ca_cert.as_deref(), Some(&b"hello"[..]));
        assert!(!p.skip_verify);
        assert!(p.is_set());
        assert_eq!(p.first_given(), Some("ca_cert"));
        assert!(!TlsParams::default().is_set());
        assert_eq!(
            TlsParams::from_params(&params(&[("client_key", "aGk=")])),
            Err(SinkError::Invalid(
                "client_key requires client_cert to be set".into()
            ))
        );
        assert_eq!(
            TlsParams::from_params(&params(&[("client_cert", "aGk=")])),
            Err(SinkError::Invalid(
                "client_cert requires client_key to be set".into()
            ))
        );
        assert_eq!(
            TlsParams::from_params(&params(&[("ca_cert", "%%")])),
            Err(SinkError::Invalid(
                "param ca_cert must be base 64 encoded".into()
            ))
        );
    }

    #[test]
    fn debug_leaves_the_key_out() {
        let p = TlsParams {
            client_key: Some(b"-----BEGIN PRIVATE KEY-----secret".to_vec()),
            ..TlsParams::default()
        };
        let s = format!("{p:?}");
        assert!(!s.contains("secret") && s.contains("redacted"), "{s}");
    }

    #[test]
    fn configs() {
        let skip = TlsParams {
            skip_verify: true,
            ..TlsParams::default()
        };
        assert!(client_config(&skip).is_ok());
        let not_pem = TlsParams {
            ca_cert: Some(b"hello".to_vec()),
            ..TlsParams::default()
        };
        assert_eq!(
            client_config(&not_pem).err(),
            Some(SinkError::Invalid(
                "invalid ca_cert: no PEM certificate found".into()
            ))
        );
    }
}
