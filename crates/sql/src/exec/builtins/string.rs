//! String builtins.

use super::{Args, Builtin, Call, Ret, not_implemented, text};
use crate::error::{Result, SqlError};
use crate::types::{Datum, Type};

/// The longest string `repeat`, `lpad` and `rpad` build, in bytes.
const MAX_STRING_BYTES: usize = 64 << 20;

const STRING: Ret = Ret::Is(Type::String);
const INT: Ret = Ret::Is(Type::Int8);

fn string(s: impl Into<String>) -> Result<Datum> {
    Ok(Datum::String(s.into()))
}

fn int(i: usize) -> Result<Datum> {
    Ok(Datum::Int(i as i64))
}

pub(super) static BUILTINS: &[Builtin] = &[
    Builtin::new(&["lower"], Args::Exact(1), STRING, |c| {
        string(c.text(0).to_lowercase())
    }),
    Builtin::new(&["upper"], Args::Exact(1), STRING, |c| {
        string(c.text(0).to_uppercase())
    }),
    Builtin::new(&["initcap"], Args::Exact(1), STRING, initcap),
    Builtin::new(
        &["length", "char_length", "character_length"],
        Args::Exact(1),
        INT,
        |c| match c.arg(0) {
            Datum::Bytes(b) => int(b.len()),
            other => int(text(other).chars().count()),
        },
    ),
    Builtin::new(&["octet_length"], Args::Exact(1), INT, |c| match c.arg(0) {
        Datum::Bytes(b) => int(b.len()),
        other => int(text(other).len()),
    }),
    Builtin::new(&["bit_length"], Args::Exact(1), INT, |c| {
        int(c.text(0).len() * 8)
    }),
    Builtin::new(&["ascii"], Args::Exact(1), INT, |c| {
        Ok(Datum::Int(c.text(0).chars().next().map_or(0, |c| c as i64)))
    }),
    Builtin::new(&["chr"], Args::Exact(1), STRING, |c| {
        let code = u32::try_from(c.int(0)?).unwrap_or(0);
        string(char::from_u32(code).map(String::from).unwrap_or_default())
    }),
    Builtin::new(
        &["substr", "substring"],
        Args::Range(2, 3),
        STRING,
        substring,
    ),
    Builtin::new(&["left"], Args::Exact(2), STRING, |c| {
        let (text, k) = prefix_len(c)?;
        string(text.iter().take(k).collect::<String>())
    }),
    Builtin::new(&["right"], Args::Exact(2), STRING, |c| {
        let (text, k) = prefix_len(c)?;
        string(text.iter().skip(text.len() - k).collect::<String>())
    }),
    Builtin::new(&["repeat"], Args::Exact(2), STRING, |c| {
        let n = c.int(1)?.max(0) as usize;
        if n.saturating_mul(c.text(0).len()) > MAX_STRING_BYTES {
            return Err(SqlError::invalid_parameter("requested length too large"));
        }
        string(c.text(0).repeat(n))
    }),
    Builtin::new(&["reverse"], Args::Exact(1), STRING, |c| {
        string(c.text(0).chars().rev().collect::<String>())
    }),
    Builtin::new(&["replace"], Args::Exact(3), STRING, |c| {
        string(c.text(0).replace(&c.text(1), &c.text(2)))
    }),
    Builtin::new(&["translate"], Args::Exact(3), STRING, translate),
    Builtin::new(&["btrim", "trim"], Args::Range(1, 2), STRING, |c| {
        let chars = trim_chars(c);
        string(c.text(0).trim_matches(|ch| chars.contains(&ch)))
    }),
    Builtin::new(&["ltrim"], Args::Range(1, 2), STRING, |c| {
        let chars = trim_chars(c);
        string(c.text(0).trim_start_matches(|ch| chars.contains(&ch)))
    }),
    Builtin::new(&["rtrim"], Args::Range(1, 2), STRING, |c| {
        let chars = trim_chars(c);
        string(c.text(0).trim_end_matches(|ch| chars.contains(&ch)))
    }),
    Builtin::new(&["lpad"], Args::Range(2, 3), STRING, |c| pad(c, true)),
    Builtin::new(&["rpad"], Args::Range(2, 3), STRING, |c| pad(c, false)),
    Builtin::new(&["strpos", "position"], Args::Exact(2), INT, |c| {
        Ok(Datum::Int(
            c.text(0)
                .split_once(c.text(1).as_str())
                .map_or(0, |(before, _)| before.chars().count() as i64 + 1),
        ))
    }),
    Builtin::new(&["split_part"], Args::Exact(3), STRING, |c| {
        let n = c.int(2)?;
        if n <= 0 {
            return Err(SqlError::invalid_parameter(
                "field position must be greater than zero",
            ));
        }
        let whole = c.text(0);
        string(whole.split(&c.text(1)).nth((n - 1) as usize).unwrap_or(""))
    }),
    Builtin::new(
        &["string_to_array"],
        Args::Exact(2),
        Ret::Rule(|_| Type::Array(Box::new(Type::String))),
        |c| {
            let (whole, sep) = (c.text(0), c.text(1));
            let parts = whole.split(sep.as_str()).map(|p| Datum::String(p.into()));
            Ok(Datum::Array(parts.collect()))
        },
    ),
    Builtin::new(&["md5"], Args::Exact(1), STRING, |c| {
        string(md5_hex(c.text(0).as_bytes()))
    }),
    Builtin::new(&["to_hex"], Args::Exact(1), STRING, |c| {
        string(format!("{:x}", c.int(0)?))
    }),
    Builtin::new(&["encode"], Args::Exact(2), STRING, |c| {
        match (c.arg(0), c.text(1).as_str()) {
            (Datum::Bytes(b), "hex") => {
                string(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            }
            (Datum::Bytes(b), "escape") => string(String::from_utf8_lossy(b)),
            _ => Err(c.wrong_args()),
        }
    }),
    Builtin::new(
        &["quote_ident", "pg_catalog.quote_ident"],
        Args::Exact(1),
        STRING,
        |c| string(crate::parser::Name::new(c.text(0)).to_string()),
    ),
    Builtin::new(&["quote_literal"], Args::Exact(1), STRING, |c| {
        string(format!("'{}'", c.text(0).replace('\'', "''")))
    }),
    Builtin::new(&["concat"], Args::AtLeast(0), STRING, |c| {
        string(
            c.args
                .iter()
                .filter(|v| !v.is_null())
                .map(text)
                .collect::<String>(),
        )
    })
    .sees_nulls(),
    Builtin::new(&["concat_ws"], Args::AtLeast(1), STRING, concat_ws).sees_nulls(),
    Builtin::new(
        &["regexp_replace"],
        Args::AtLeast(0),
        STRING,
        not_implemented,
    ),
    Builtin::new(&["overlay"], Args::AtLeast(0), STRING, not_implemented),
];

fn initcap(c: &mut Call<'_>) -> Result<Datum> {
    let words: Vec<String> = c
        .text(0)
        .split(' ')
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &chars.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect();
    string(words.join(" "))
}

fn substring(c: &mut Call<'_>) -> Result<Datum> {
    let text: Vec<char> = c.text(0).chars().collect();
    let start = c.int(1)?;
    let len = if c.has(2) { Some(c.int(2)?) } else { None };
    if let Some(l) = len
        && l < 0
    {
        return Err(SqlError::invalid_parameter(format!(
            "{}(): negative substring length {l} not allowed",
            c.name
        )));
    }
    let from = start.saturating_sub(1);
    let to = len.map_or(i64::MAX, |l| from.saturating_add(l));
    let from = from.max(0) as usize;
    let to = to.clamp(0, text.len() as i64) as usize;
    string(
        text.get(from..to)
            .unwrap_or_default()
            .iter()
            .collect::<String>(),
    )
}

/// The characters of `left`/`right`'s string and how many of them the result keeps (all but
/// `-n` for a negative `n`).
fn prefix_len(c: &Call<'_>) -> Result<(Vec<char>, usize)> {
    let n = c.int(1)?;
    let text: Vec<char> = c.text(0).chars().collect();
    let k = if n >= 0 {
        (n as usize).min(text.len())
    } else {
        text.len().saturating_sub(n.unsigned_abs() as usize)
    };
    Ok((text, k))
}

fn translate(c: &mut Call<'_>) -> Result<Datum> {
    let from: Vec<char> = c.text(1).chars().collect();
    let to: Vec<char> = c.text(2).chars().collect();
    string(
        c.text(0)
            .chars()
            .filter_map(|ch| match from.iter().position(|f| *f == ch) {
                Some(i) => to.get(i).copied(),
                None => Some(ch),
            })
            .collect::<String>(),
    )
}

/// The characters the trim functions remove: their second argument's, or a space.
fn trim_chars(c: &Call<'_>) -> Vec<char> {
    if c.has(1) {
        c.text(1).chars().collect()
    } else {
        vec![' ']
    }
}

fn pad(c: &mut Call<'_>, left: bool) -> Result<Datum> {
    let n = c.int(1)?.max(0) as usize;
    // Characters take up to four bytes.
    if n.saturating_mul(4) > MAX_STRING_BYTES {
        return Err(SqlError::invalid_parameter("requested length too large"));
    }
    let fill: Vec<char> = if c.has(2) {
        c.text(2).chars().collect()
    } else {
        vec![' ']
    };
    let text: Vec<char> = c.text(0).chars().collect();
    if text.len() >= n || fill.is_empty() {
        return string(text.iter().take(n).collect::<String>());
    }
    let pad: String = fill.iter().cycle().take(n - text.len()).collect();
    let t: String = text.iter().collect();
    string(if left { pad + &t } else { t + &pad })
}

fn concat_ws(c: &mut Call<'_>) -> Result<Datum> {
    let Some((sep, rest)) = c.args.split_first() else {
        return Err(c.wrong_args());
    };
    if sep.is_null() {
        return Ok(Datum::Null);
    }
    let parts: Vec<String> = rest.iter().filter(|v| !v.is_null()).map(text).collect();
    string(parts.join(&text(sep)))
}

fn md5_hex(data: &[u8]) -> String {
    // RFC 1321.
    let s: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(s[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_matches_reference() {
        assert_eq!(super::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(super::md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }
}
