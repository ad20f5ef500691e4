//! COALESCE, IFNULL, NULLIF, GREATEST and LEAST: they see NULL arguments, and their result
//! type is their arguments' common type ([`Ret::Common`]).

use std::cmp::Ordering;

use super::{Args, Builtin, Call, Ret};
use crate::error::Result;
use crate::types::Datum;

pub(super) static BUILTINS: &[Builtin] = &[
    Builtin::new(&["coalesce"], Args::AtLeast(1), Ret::Common, first_non_null).sees_nulls(),
    Builtin::new(&["ifnull"], Args::Exact(2), Ret::Common, first_non_null).sees_nulls(),
    Builtin::new(&["nullif"], Args::Exact(2), Ret::Common, nullif).sees_nulls(),
    Builtin::new(&["greatest"], Args::AtLeast(1), Ret::Common, |c| {
        Ok(extreme(c, true))
    })
    .sees_nulls(),
    Builtin::new(&["least"], Args::AtLeast(1), Ret::Common, |c| {
        Ok(extreme(c, false))
    })
    .sees_nulls(),
];

fn first_non_null(c: &mut Call<'_>) -> Result<Datum> {
    let args = std::mem::take(&mut c.args);
    Ok(args
        .into_iter()
        .find(|v| !v.is_null())
        .unwrap_or(Datum::Null))
}

fn nullif(c: &mut Call<'_>) -> Result<Datum> {
    if c.args.len() != 2 {
        return Err(c.wrong_args());
    }
    let (a, b) = (c.take(0), c.arg(1));
    Ok(if !a.is_null() && a.compare(b) == Some(Ordering::Equal) {
        Datum::Null
    } else {
        a
    })
}

/// The greatest (or least) non-NULL argument; NULL when all are NULL.
fn extreme(c: &mut Call<'_>, greatest: bool) -> Datum {
    let mut best: Option<Datum> = None;
    for v in std::mem::take(&mut c.args)
        .into_iter()
        .filter(|v| !v.is_null())
    {
        best = Some(match best {
            None => v,
            Some(b) => {
                if greatest == (v.total_cmp(&b) == Ordering::Greater) {
                    v
                } else {
                    b
                }
            }
        });
    }
    best.unwrap_or(Datum::Null)
}
