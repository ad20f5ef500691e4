//! Decoding what clients send, without trusting a byte of it.
//!
//! pgwire's message types encode what the server sends; the client's messages are decoded
//! here, with a cursor that checks every length, so a truncated or hostile message is a
//! protocol error (`08P01`) and never a panic or an unbounded allocation. Framing is done by
//! the connection ([`super::conn`]): it reads the type byte and length, bounds the length,
//! and hands the body to [`decode`] (or the startup packet to [`decode_startup`]).

use std::collections::BTreeMap;

/// The largest message body accepted (a query text, a Bind with its parameters).
pub const MAX_MESSAGE: usize = 64 << 20;
/// The largest startup packet accepted (PostgreSQL's own limit).
pub const MAX_STARTUP: usize = 10_000;

const SSL_REQUEST: u32 = 80_877_103;
const GSS_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// A malformed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, ProtocolError>;

fn err<T>(what: impl Into<String>) -> Result<T> {
    Err(ProtocolError(what.into()))
}

/// The first packet of a connection (its body, after the length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// SSLRequest: answered with `N`.
    Ssl,
    /// GSSENCRequest: answered with `N`.
    Gss,
    /// CancelRequest: the connection closes without an answer.
    Cancel,
    /// StartupMessage.
    Start {
        /// Protocol major version.
        major: u16,
        /// Protocol minor version.
        minor: u16,
        /// `user`, `database`, `options`, `application_name`, ...
        params: BTreeMap<String, String>,
    },
}

/// A message after startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Q: a simple query.
    Query(String),
    /// P: Parse.
    Parse {
        /// Statement name (empty: the unnamed statement).
        name: String,
        /// The SQL.
        query: String,
        /// Declared parameter type OIDs (0: unspecified).
        param_types: Vec<u32>,
    },
    /// B: Bind.
    Bind {
        /// Portal name.
        portal: String,
        /// Statement name.
        statement: String,
        /// Parameter format codes (none: all text; one: for all).
        param_formats: Vec<i16>,
        /// Parameter values (`None` is NULL).
        params: Vec<Option<Vec<u8>>>,
        /// Result column format codes (none: all text; one: for all).
        result_formats: Vec<i16>,
    },
    /// D: Describe a statement (`S`) or portal (`P`).
    Describe {
        /// `S` or `P`.
        kind: u8,
        /// Its name.
        name: String,
    },
    /// E: Execute.
    Execute {
        /// Portal name.
        portal: String,
        /// Row limit (0: all).
        max_rows: i32,
    },
    /// C: Close a statement (`S`) or portal (`P`).
    Close {
        /// `S` or `P`.
        kind: u8,
        /// Its name.
        name: String,
    },
    /// S: Sync.
    Sync,
    /// H: Flush.
    Flush,
    /// X: Terminate.
    Terminate,
    /// d, c, f: COPY data, done, fail (ignored: the server never starts a COPY).
    Copy,
    /// p: a password message, which trust authentication never asks for.
    Password,
}

struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return err("message too short");
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn cstring(&mut self) -> Result<String> {
        let Some(end) = self.buf.iter().position(|b| *b == 0) else {
            return err("missing string terminator");
        };
        let s = self.take(end)?;
        self.take(1)?;
        match std::str::from_utf8(s) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => err("invalid UTF-8 in a string"),
        }
    }

    /// A count, checked against the bytes left (each item takes at least `min_size`).
    fn count(&mut self, min_size: usize) -> Result<usize> {
        let n = self.i16()?;
        let Ok(n) = usize::try_from(n) else {
            return err("negative count");
        };
        if n.saturating_mul(min_size) > self.buf.len() {
            return err("count exceeds the message");
        }
        Ok(n)
    }

    fn end(&self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            err("unexpected bytes at the end of a message")
        }
    }
}

/// Decodes the first packet of a connection (the bytes after its length).
pub fn decode_startup(body: &[u8]) -> Result<Startup> {
    let mut c = Cursor { buf: body };
    let code = c.u32()?;
    match code {
        SSL_REQUEST => return Ok(Startup::Ssl),
        GSS_REQUEST => return Ok(Startup::Gss),
        CANCEL_REQUEST => return Ok(Startup::Cancel),
        _ => {}
    }
    let (major, minor) = ((code >> 16) as u16, (code & 0xffff) as u16);
    if major != 3 {
        return err(format!("unsupported frontend protocol {major}.{minor}"));
    }
    let mut params = BTreeMap::new();
    loop {
        let key = c.cstring()?;
        if key.is_empty() {
            break;
        }
        let value = c.cstring()?;
        params.insert(key, value);
    }
    Ok(Startup::Start {
        major,
        minor,
        params,
    })
}

/// The largest password message accepted during authentication.
pub const MAX_PASSWORD_MESSAGE: usize = 8 << 10;

/// Decodes a SASLInitialResponse (a `p` message answering AuthenticationSASL): the mechanism
/// the client chose and its first message (empty when the length is -1).
pub fn decode_sasl_initial(body: &[u8]) -> Result<(String, Vec<u8>)> {
    let mut c = Cursor { buf: body };
    let mechanism = c.cstring()?;
    let len = c.i32()?;
    let data = if len < 0 {
        Vec::new()
    } else {
        c.take(usize::try_from(len).unwrap_or(usize::MAX))?.to_vec()
    };
    c.end()?;
    Ok((mechanism, data))
}

/// Decodes a message given its type byte and body.
pub fn decode(tag: u8, body: &[u8]) -> Result<Message> {
    let mut c = Cursor { buf: body };
    let m = match tag {
        b'Q' => Message::Query(c.cstring()?),
        b'P' => {
            let name = c.cstring()?;
            let query = c.cstring()?;
            let n = c.count(4)?;
            let mut param_types = Vec::with_capacity(n);
            for _ in 0..n {
                param_types.push(c.u32()?);
            }
            Message::Parse {
                name,
                query,
                param_types,
            }
        }
        b'B' => {
            let portal = c.cstring()?;
            let statement = c.cstring()?;
            let n = c.count(2)?;
            let mut param_formats = Vec::with_capacity(n);
            for _ in 0..n {
                param_formats.push(c.i16()?);
            }
            let n = c.count(4)?;
            let mut params = Vec::with_capacity(n);
            for _ in 0..n {
                let len = c.i32()?;
                if len < 0 {
                    params.push(None);
                } else {
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    params.push(Some(c.take(len)?.to_vec()));
                }
            }
            let n = c.count(2)?;
            let mut result_formats = Vec::with_capacity(n);
            for _ in 0..n {
                result_formats.push(c.i16()?);
            }
            Message::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            }
        }
        b'D' | b'C' => {
            let kind = c.u8()?;
            if kind != b'S' && kind != b'P' {
                return err(format!("invalid {} target", tag as char));
            }
            let name = c.cstring()?;
            if tag == b'D' {
                Message::Describe { kind, name }
            } else {
                Message::Close { kind, name }
            }
        }
        b'E' => {
            let portal = c.cstring()?;
            let max_rows = c.i32()?;
            Message::Execute { portal, max_rows }
        }
        b'S' => Message::Sync,
        b'H' => Message::Flush,
        b'X' => Message::Terminate,
        b'd' | b'c' | b'f' => {
            return Ok(Message::Copy);
        }
        b'p' => {
            return Ok(Message::Password);
        }
        other => return err(format!("invalid frontend message type {other}")),
    };
    c.end()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_initial_responses() {
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&5i32.to_be_bytes());
        body.extend_from_slice(b"n,,ab");
        assert_eq!(
            decode_sasl_initial(&body),
            Ok(("SCRAM-SHA-256".into(), b"n,,ab".to_vec()))
        );
        let mut none = b"SCRAM-SHA-256\0".to_vec();
        none.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            decode_sasl_initial(&none),
            Ok(("SCRAM-SHA-256".into(), vec![]))
        );
        let mut long = b"SCRAM-SHA-256\0".to_vec();
        long.extend_from_slice(&100i32.to_be_bytes());
        assert!(decode_sasl_initial(&long).is_err());
        assert!(decode_sasl_initial(b"no terminator").is_err());
        assert!(decode_sasl_initial(&body[..16]).is_err());
    }

    #[test]
    fn startup_packets() {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0root\0database\0d\0\0");
        let Startup::Start { major, params, .. } = decode_startup(&body).expect("startup") else {
            panic!("not a startup message");
        };
        assert_eq!(major, 3);
        assert_eq!(params.get("user").map(String::as_str), Some("root"));
        assert_eq!(params.get("database").map(String::as_str), Some("d"));
        assert_eq!(decode_startup(&SSL_REQUEST.to_be_bytes()), Ok(Startup::Ssl));
        let mut cancel = CANCEL_REQUEST.to_be_bytes().to_vec();
        cancel.extend_from_slice(&[0; 8]);
        assert_eq!(decode_startup(&cancel), Ok(Startup::Cancel));
        assert!(decode_startup(&0x0002_0000u32.to_be_bytes()).is_err());
        assert!(decode_startup(&196_608u32.to_be_bytes()).is_err());
        assert!(decode_startup(&[1, 2]).is_err());
    }

    #[test]
    fn messages() {
        assert_eq!(
            decode(b'Q', b"SELECT 1\0"),
            Ok(Message::Query("SELECT 1".into()))
        );
        let mut bind = b"p\0s\0".to_vec();
        bind.extend_from_slice(&[0, 1, 0, 1, 0, 2, 0, 0, 0, 1, 7, 0xff, 0xff, 0xff, 0xff]);
        bind.extend_from_slice(&[0, 0]);
        assert_eq!(
            decode(b'B', &bind),
            Ok(Message::Bind {
                portal: "p".into(),
                statement: "s".into(),
                param_formats: vec![1],
                params: vec![Some(vec![7]), None],
                result_formats: vec![],
            })
        );
        assert!(decode(b'Q', b"no terminator").is_err());
        assert!(decode(b'D', b"Xname\0").is_err());
        assert!(decode(b'E', b"\0\0\0").is_err());
        assert!(decode(b'S', b"extra").is_err());
        assert!(decode(b'?', b"").is_err());
        // A parameter claiming more bytes than the message has.
        let mut lying = b"\0\0".to_vec();
        lying.extend_from_slice(&[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
        assert!(decode(b'B', &lying).is_err());
        // A huge count.
        assert!(decode(b'P', b"\0q\0\x7f\xff").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(tag in proptest::num::u8::ANY,
                        body in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = decode(tag, &body);
            let _ = decode_startup(&body);
        }
    }
}
