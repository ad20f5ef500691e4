//! SCRAM-SHA-256 (RFC 5802, RFC 7677), the password authentication PostgreSQL clients speak
//! and CockroachDB stores passwords for (`server.user_login.password_encryption`).
//!
//! A password is never stored: [`Verifier`] keeps the salt, the iteration count and two keys
//! derived from the salted password, in PostgreSQL's text form
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. A login is a three-message
//! exchange: the client's first message, [`server_first`]'s answer (the combined nonce, the
//! salt and the iteration count), the client's proof, and [`Exchange::finish`]'s check of it,
//! whose answer proves to the client that the server knew the verifier too.
//!
//! Passwords are used as their UTF-8 bytes. libpq applies SASLprep first, which leaves ASCII
//! and most passwords unchanged; a password SASLprep would rewrite must be given the same way
//! to `CREATE USER` and to the client.
//!
//! Channel binding (`SCRAM-SHA-256-PLUS`) is not offered: a client asking for it (`p=`) is
//! refused, one that could but sees the server does not (`y,,`) is accepted.

use std::fmt;
use std::num::NonZeroU32;

use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::{constant_time, digest, hmac, pbkdf2};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The SASL mechanism's name, as the server advertises it.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// The iteration count of new verifiers: CockroachDB's default
/// (`server.user_login.password_hashes.default_cost.scram_sha_256`).
pub const DEFAULT_ITERATIONS: u32 = 10_610;

const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 18;

/// Why an exchange failed. Every variant ends the login with PostgreSQL's
/// `password authentication failed` (the client learns nothing more); the text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A message did not follow RFC 5802's grammar.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding, which is not offered.
    #[error("channel binding is not supported")]
    ChannelBinding,
    /// The final message's nonce is not the one the server sent.
    #[error("SCRAM nonce mismatch")]
    Nonce,
    /// The proof does not match the verifier: a wrong password (or no such user).
    #[error("SCRAM proof does not match")]
    Proof,
}

/// What the server keeps of a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// The salt.
    pub salt: Vec<u8>,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: [u8; KEY_LEN],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; KEY_LEN],
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys derived from a password are secrets too.
        f.write_str("Verifier(<redacted>)")
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MECHANISM}${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0; KEY_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0; KEY_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    // The system generator fails only when the OS has no entropy source at all; the bytes
    // then stay zero, which a salt or nonce tolerates better than a crash.
    if aws_lc_rs::rand::SystemRandom::new().fill(&mut out).is_err() {
        tracing::error!("the system random generator failed");
    }
    out
}

impl Verifier {
    /// The verifier of `password` with this salt and iteration count (at least 1).
    pub fn new(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let mut salted = [0; KEY_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN),
            salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        Verifier {
            iterations: iterations.max(1),
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// The verifier of `password` with a fresh random salt and [`DEFAULT_ITERATIONS`].
    pub fn generate(password: &str) -> Verifier {
        Verifier::new(password, &random_bytes(SALT_LEN), DEFAULT_ITERATIONS)
    }

    /// A verifier no password matches, with a salt fixed per `user` and `secret`: an unknown
    /// user goes through the same exchange as a known one and fails only at the proof, so a
    /// client cannot tell which user names exist.
    pub fn mock(user: &str, secret: &[u8]) -> Verifier {
        let salt = hmac_sha256(secret, user.as_bytes());
        Verifier {
            iterations: DEFAULT_ITERATIONS,
            salt: salt[..SALT_LEN].to_vec(),
            stored_key: random_bytes(KEY_LEN).try_into().unwrap_or([0; KEY_LEN]),
            server_key: [0; KEY_LEN],
        }
    }

    /// Reads PostgreSQL's text form; `None` if `s` is not one.
    pub fn parse(s: &str) -> Option<Verifier> {
        let rest = s.strip_prefix(MECHANISM)?.strip_prefix('$')?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok().filter(|&i| i > 0)?;
        let salt = B64.decode(salt).ok()?;
        let stored_key = B64.decode(stored).ok()?.try_into().ok()?;
        let server_key = B64.decode(server).ok()?.try_into().ok()?;
        Some(Verifier {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }
}

/// A fresh server nonce: random printable characters (base64 has no `,`).
pub fn server_nonce() -> String {
    B64.encode(random_bytes(NONCE_LEN))
}

/// The server's side of an exchange after its first message.
#[derive(Debug)]
pub struct Exchange {
    verifier: Verifier,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// Answers the client's first message (`n,,n=<user>,r=<nonce>`): returns the exchange and the
/// server's first message `r=<client nonce><server nonce>,s=<salt>,i=<iterations>`. The user
/// named in the message is ignored, as PostgreSQL does: the startup packet names the user.
pub fn server_first(
    client_first: &str,
    verifier: Verifier,
    server_nonce: &str,
) -> Result<(Exchange, String), ScramError> {
    let (cbind, rest) = client_first
        .split_once(',')
        .ok_or(ScramError::Malformed("no GS2 header"))?;
    match cbind {
        "n" | "y" => {}
        c if c.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(ScramError::Malformed("bad channel binding flag")),
    }
    // The authorization identity, which must be empty or absent.
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(ScramError::Malformed("no GS2 header"))?;
    if !authzid.is_empty() {
        return Err(ScramError::Malformed(
            "an authorization identity is not supported",
        ));
    }
    let mut attrs = bare.split(',');
    if !attrs.next().is_some_and(|a| a.starts_with("n=")) {
        return Err(ScramError::Malformed("no user name attribute"));
    }
    let client_nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
        .ok_or(ScramError::Malformed("no nonce"))?;
    if attrs.any(|a| a.starts_with("m=")) {
        return Err(ScramError::Malformed(
            "mandatory extensions are not supported",
        ));
    }
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        B64.encode(&verifier.salt),
        verifier.iterations
    );
    let exchange = Exchange {
        verifier,
        client_first_bare: bare.to_string(),
        server_first: server_first.clone(),
        nonce,
    };
    Ok((exchange, server_first))
}

impl Exchange {
    /// Checks the client's final message (`c=<binding>,r=<nonce>,p=<proof>`) and returns the
    /// server's final message `v=<server signature>`.
    pub fn finish(&self, client_final: &str) -> Result<String, ScramError> {
        let (without_proof, proof) = client_final
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding attribute"))?;
        // Without channel binding the attribute is the GS2 header: "n,," or "y,,".
        match B64.decode(binding).as_deref() {
            Ok(b"n,," | b"y,,") => {}
            Ok(_) => return Err(ScramError::ChannelBinding),
            Err(_) => return Err(ScramError::Malformed("bad channel binding attribute")),
        }
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if nonce != self.nonce {
            return Err(ScramError::Nonce);
        }
        let proof: [u8; KEY_LEN] = B64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ScramError::Malformed("bad proof"))?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let mut client_key = proof;
        for (k, s) in client_key.iter_mut().zip(client_signature) {
            *k ^= s;
        }
        constant_time::verify_slices_are_equal(&sha256(&client_key), &self.verifier.stored_key)
            .map_err(|_| ScramError::Proof)?;
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 section 3: user "user", password "pencil".
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
        p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn pencil() -> Verifier {
        Verifier::new("pencil", &B64.decode(SALT).unwrap_or_default(), 4096)
    }

    #[test]
    fn rfc_7677_exchange() {
        let (ex, first) = server_first(CLIENT_FIRST, pencil(), SERVER_NONCE).expect("first");
        assert_eq!(first, SERVER_FIRST);
        assert_eq!(ex.finish(CLIENT_FINAL).as_deref(), Ok(SERVER_FINAL));
    }

    #[test]
    fn a_wrong_password_or_a_mock_verifier_fails_the_proof() {
        let wrong = Verifier::new("pencils", &B64.decode(SALT).unwrap_or_default(), 4096);
        let (ex, _) = server_first(CLIENT_FIRST, wrong, SERVER_NONCE).expect("first");
        assert_eq!(ex.finish(CLIENT_FINAL), Err(ScramError::Proof));
        let mock = Verifier::mock("user", b"secret");
        assert_eq!(mock.salt, Verifier::mock("user", b"secret").salt);
        let (ex, _) = server_first(CLIENT_FIRST, mock, SERVER_NONCE).expect("first");
        assert_eq!(ex.finish(CLIENT_FINAL), Err(ScramError::Proof));
    }

    #[test]
    fn nonce_and_channel_binding_are_checked() {
        let (ex, _) = server_first(CLIENT_FIRST, pencil(), SERVER_NONCE).expect("first");
        let other_nonce = CLIENT_FINAL.replace("k0,p=", "k1,p=");
        assert_eq!(ex.finish(&other_nonce), Err(ScramError::Nonce));
        let bound = CLIENT_FINAL.replace("c=biws", "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws");
        assert_eq!(ex.finish(&bound), Err(ScramError::ChannelBinding));
        let plus = "p=tls-server-end-point,,n=user,r=abc";
        assert_eq!(
            server_first(plus, pencil(), SERVER_NONCE).err(),
            Some(ScramError::ChannelBinding)
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for first in [
            "",
            "n",
            "n,",
            "n,,",
            "n,,r=x",
            "n,,n=u",
            "n,,n=u,r=",
            "x,,n=u,r=a",
        ] {
            assert!(
                server_first(first, pencil(), SERVER_NONCE).is_err(),
                "{first:?}"
            );
        }
        let (ex, _) = server_first(CLIENT_FIRST, pencil(), SERVER_NONCE).expect("first");
        for last in [
            "",
            "p=",
            "c=biws,p=AAAA",
            "c=!!,r=x,p=AAAA",
            "r=x,c=biws,p=AAAA",
        ] {
            assert!(ex.finish(last).is_err(), "{last:?}");
        }
    }

    #[test]
    fn text_form_round_trips_and_rejects_garbage() {
        let v = pencil();
        let text = v.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
        assert_eq!(Verifier::parse(&text), Some(v));
        for bad in [
            "",
            "SCRAM-SHA-256$",
            "md5abc",
            "SCRAM-SHA-256$0:AA==$AA==:AA==",
        ] {
            assert_eq!(Verifier::parse(bad), None, "{bad:?}");
        }
        assert!(!format!("{:?}", pencil()).contains("W22Z"));
        let fresh = Verifier::generate("pencil");
        assert_eq!(fresh.iterations, DEFAULT_ITERATIONS);
        assert_ne!(fresh.salt, Verifier::generate("pencil").salt);
    }
}
