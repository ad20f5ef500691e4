//! Backup collections: where each layer of a backup lives, how `LATEST` is kept, and how the
//! URIs of a locality-aware backup are told apart.
//!
//! ```text
//! <collection>/
//!   LATEST                                    text: the newest full backup, "/2023/06/01-123456.78"
//!   2023/06/01-123456.78/                     a full backup, named after its end time (UTC)
//!     BACKUP_MANIFEST, BACKUP_MANIFEST-CHECKSUM
//!     data/<n>.sst
//!   incrementals/2023/06/01-123456.78/20230602/101530.55/
//!     BACKUP_MANIFEST, BACKUP_MANIFEST-CHECKSUM, data/<n>.sst
//! ```
//!
//! This is CockroachDB's layout ([`full_subdir`] is Go's `/2006/01/02-150405.00`, the
//! incremental suffix `/20060102/150405.00`). The manifest is written last, so
//! [`list_full_backups`] and [`resolve_chain`] only ever see complete layers.
//!
//! A locality-aware backup writes to several URIs (`'s3://east?COCKROACH_LOCALITY=default',
//! 's3://west?COCKROACH_LOCALITY=region%3Dus-west1'`). [`parse_destinations`] checks them
//! (CockroachDB's rules and texts: exactly one `default`, one `k=v` per URI, no duplicates);
//! [`Destinations::for_locality`] picks the URI a processor writes to: the most specific tier
//! of its node's locality that names a URI, else the default. The default URI holds the
//! manifests and `LATEST`; every URI uses the same directory names.

use base::Timestamp;
use bytes::Bytes;
use cloud::{ExternalStorage, ExternalStorageUri, LOCALITY_PARAM};
use locality::{Locality, Tier};

use crate::error::{BackupError, Result};
use crate::manifest::{MANIFEST_NAME, join};

/// The file at the collection root naming the newest full backup.
pub const LATEST_FILE: &str = "LATEST";
/// The directory of incremental layers.
pub const INCREMENTALS_DIR: &str = "incrementals";
/// `COCKROACH_LOCALITY` value of the URI that receives metadata and unmatched data.
pub const DEFAULT_LOCALITY: &str = "default";

/// The directory of a full backup ending at `end`: `/YYYY/MM/DD-HHMMSS.ff` (UTC, hundredths of
/// a second, truncated).
pub fn full_subdir(end: Timestamp) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(end.wall);
    let hundredths = t.timestamp_subsec_nanos() / 10_000_000;
    format!("{}.{hundredths:02}", t.format("/%Y/%m/%d-%H%M%S"))
}

/// The directory, relative to the collection, of an incremental layer of full backup `full`
/// ending at `end`: `incrementals/<full>/YYYYMMDD/HHMMSS.ff`.
pub fn incremental_dir(full: &str, end: Timestamp) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(end.wall);
    let hundredths = t.timestamp_subsec_nanos() / 10_000_000;
    format!(
        "{INCREMENTALS_DIR}/{}{}.{hundredths:02}",
        full.trim_matches('/'),
        t.format("/%Y%m%d/%H%M%S")
    )
}

/// Normalises a user-given subdirectory to CockroachDB's form with one leading `/`.
pub fn normalize_subdir(s: &str) -> String {
    format!("/{}", s.trim().trim_matches('/'))
}

/// Whether `s` (without slashes at the ends) looks like `YYYY/MM/DD-HHMMSS.ff`.
pub fn is_full_subdir(s: &str) -> bool {
    let s = s.trim_matches('/');
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'/',
            10 => *c == b'-',
            17 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// Writes `LATEST` at the collection root.
pub async fn write_latest(storage: &dyn ExternalStorage, subdir: &str) -> Result<()> {
    storage
        .put(
            LATEST_FILE,
            Bytes::from(normalize_subdir(subdir).into_bytes()),
        )
        .await?;
    Ok(())
}

/// The subdirectory `LATEST` names, with a leading `/`.
pub async fn read_latest(storage: &dyn ExternalStorage) -> Result<String> {
    match storage.get(LATEST_FILE).await {
        Ok(b) => Ok(normalize_subdir(&String::from_utf8_lossy(&b))),
        Err(e) if e.is_not_found() => Err(BackupError::sql(
            base::errcode::UNDEFINED_OBJECT,
            format!(
                "path does not contain a completed latest backup: {}",
                storage.uri()
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every complete full backup of the collection (`/YYYY/MM/DD-HHMMSS.ff`), oldest first.
pub async fn list_full_backups(storage: &dyn ExternalStorage) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for year in dirs(storage, "").await? {
        if year.len() != 4 || !year.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for month in dirs(storage, &format!("{year}/")).await? {
            for day in dirs(storage, &format!("{year}/{month}/")).await? {
                let sub = format!("{year}/{month}/{day}");
                if !is_full_subdir(&sub) {
                    continue;
                }
                if exists(storage, &join(&sub, MANIFEST_NAME)).await? {
                    out.push(format!("/{sub}"));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The directories (relative to the collection) of the incremental layers of full backup
/// `full`, oldest first; only those with a manifest.
pub async fn list_incrementals(storage: &dyn ExternalStorage, full: &str) -> Result<Vec<String>> {
    let base = format!("{INCREMENTALS_DIR}/{}/", full.trim_matches('/'));
    let mut out = Vec::new();
    for day in dirs(storage, &base).await? {
        for time in dirs(storage, &format!("{base}{day}/")).await? {
            let dir = format!("{base}{day}/{time}");
            if exists(storage, &join(&dir, MANIFEST_NAME)).await? {
                out.push(dir);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The layers to read for a backup: the full backup's directory and its incrementals, oldest
/// first. Fails with CockroachDB's text when the full backup is missing.
pub async fn resolve_chain(storage: &dyn ExternalStorage, full: &str) -> Result<Vec<String>> {
    let dir = full.trim_matches('/').to_string();
    if !exists(storage, &join(&dir, MANIFEST_NAME)).await? {
        return Err(BackupError::sql(
            base::errcode::UNDEFINED_OBJECT,
            format!(
                "backup {} does not exist in {}: no {MANIFEST_NAME} found",
                normalize_subdir(&dir),
                storage.uri()
            ),
        ));
    }
    let mut chain = vec![dir.clone()];
    chain.extend(list_incrementals(storage, &dir).await?);
    Ok(chain)
}

async fn dirs(storage: &dyn ExternalStorage, prefix: &str) -> Result<Vec<String>> {
    Ok(storage
        .list(prefix, Some("/"))
        .await?
        .into_iter()
        .filter_map(|n| n.strip_suffix('/').map(str::to_string))
        .collect())
}

async fn exists(storage: &dyn ExternalStorage, path: &str) -> Result<bool> {
    match storage.size(path).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// One URI of a destination, with the locality it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalityUri {
    /// `None` for the default URI, else the `k=v` it serves.
    pub locality: Option<Tier>,
    /// The URI as given (with secrets).
    pub uri: String,
}

/// The URIs of a backup destination: one default, and any per-locality ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destinations {
    /// The default URI first, then the others in the order given.
    pub uris: Vec<LocalityUri>,
}

impl Destinations {
    /// The default URI.
    pub fn default_uri(&self) -> &str {
        &self.uris[0].uri
    }

    /// The `k=v` localities, sorted.
    pub fn localities(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .uris
            .iter()
            .filter_map(|u| u.locality.as_ref().map(Tier::to_string))
            .collect();
        v.sort();
        v
    }

    /// The URI a node with locality `node` writes to, and the `k=v` it matched (`None` for the
    /// default): the most specific tier of the node's locality that has a URI.
    pub fn for_locality(&self, node: &Locality) -> (&str, Option<String>) {
        for tier in node.tiers().iter().rev() {
            if let Some(u) = self.uris.iter().find(|u| u.locality.as_ref() == Some(tier)) {
                return (&u.uri, Some(tier.to_string()));
            }
        }
        (self.default_uri(), None)
    }

    /// The URI serving `locality` (`None`: the default).
    pub fn uri_of(&self, locality: Option<&str>) -> Option<&str> {
        self.uris
            .iter()
            .find(|u| u.locality.as_ref().map(Tier::to_string).as_deref() == locality)
            .map(|u| u.uri.as_str())
    }
}

/// Checks the URIs of a BACKUP or RESTORE destination and sorts out their localities.
pub fn parse_destinations(uris: &[String]) -> Result<Destinations> {
    let bad = |m: String| BackupError::sql(base::errcode::INVALID_PARAMETER_VALUE, m);
    let locality_of = |u: &str| -> Result<Option<String>> {
        let parsed = ExternalStorageUri::parse(u)?;
        Ok(parsed.param(LOCALITY_PARAM).map(str::to_string))
    };
    match uris {
        [] => Err(bad("no backup destination given".into())),
        [only] => {
            if let Some(l) = locality_of(only)?
                && l != DEFAULT_LOCALITY
            {
                return Err(bad(format!(
                    "{LOCALITY_PARAM} {l} is invalid for a single BACKUP location"
                )));
            }
            Ok(Destinations {
                uris: vec![LocalityUri {
                    locality: None,
                    uri: only.clone(),
                }],
            })
        }
        many => {
            let mut default = None;
            let mut others: Vec<LocalityUri> = Vec::new();
            for u in many {
                let Some(l) = locality_of(u)? else {
                    return Err(bad(format!(
                        "multiple URLs are provided for partitioned BACKUP, but {LOCALITY_PARAM} \
                         is not specified"
                    )));
                };
                if l == DEFAULT_LOCALITY {
                    if default.is_some() {
                        return Err(bad(
                            "multiple default URLs provided for partition backup".into()
                        ));
                    }
                    default = Some(u.clone());
                    continue;
                }
                let tier = Tier::parse(&l).map_err(|e| bad(e.to_string()))?;
                if others.iter().any(|o| o.locality.as_ref() == Some(&tier)) {
                    return Err(bad(format!("duplicate URIs for locality {tier}")));
                }
                others.push(LocalityUri {
                    locality: Some(tier),
                    uri: u.clone(),
                });
            }
            let Some(default) = default else {
                return Err(bad("no default URL provided for partitioned backup".into()));
            };
            let mut all = vec![LocalityUri {
                locality: None,
                uri: default,
            }];
            all.extend(others);
            Ok(Destinations { uris: all })
        }
    }
}

/// CockroachDB's error for an incremental whose localities differ from the chain's.
pub fn check_same_localities(requested: &[String], previous: &[String]) -> Result<()> {
    if requested == previous {
        return Ok(());
    }
    Err(BackupError::sql(
        base::errcode::INVALID_PARAMETER_VALUE,
        format!(
            "Requested backup has localities [{}], but a previous backup layer in this \
             collection has localities [{}]. Mismatched backup layers are not supported. Please \
             take a new full backup with the new localities, or an incremental backup with \
             matching localities.",
            requested.join(" "),
            previous.join(" ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{CHECKSUM_NAME, MANIFEST_NAME};

    fn ts(rfc3339: &str) -> Timestamp {
        let t = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time");
        Timestamp {
            wall: t.timestamp_nanos_opt().expect("nanos"),
            logical: 0,
        }
    }

    #[test]
    fn subdir_names() {
        let end = ts("2023-06-01T12:34:56.789Z");
        assert_eq!(full_subdir(end), "/2023/06/01-123456.78");
        assert!(is_full_subdir("/2023/06/01-123456.78"));
        assert!(is_full_subdir("2023/06/01-123456.78"));
        assert!(!is_full_subdir("2023/06/01-123456"));
        assert_eq!(
            incremental_dir("/2023/06/01-123456.78", ts("2023-06-02T10:15:30.55Z")),
            "incrementals/2023/06/01-123456.78/20230602/101530.55"
        );
        assert_eq!(
            normalize_subdir("2023/06/01-123456.78"),
            "/2023/06/01-123456.78"
        );
        assert_eq!(normalize_subdir("/x/"), "/x");
    }

    fn uris(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn destinations() {
        let d = parse_destinations(&uris(&["nodelocal://1/a"])).expect("one");
        assert_eq!(d.default_uri(), "nodelocal://1/a");
        let err = parse_destinations(&uris(&["nodelocal://1/a?COCKROACH_LOCALITY=region%3Dx"]))
            .expect_err("single non-default");
        assert_eq!(
            err.to_string(),
            "COCKROACH_LOCALITY region=x is invalid for a single BACKUP location"
        );
        let d = parse_destinations(&uris(&[
            "nodelocal://1/w?COCKROACH_LOCALITY=region%3Dus-west1",
            "nodelocal://1/d?COCKROACH_LOCALITY=default",
            "nodelocal://1/z?COCKROACH_LOCALITY=az%3Dus-west1-b",
        ]))
        .expect("three");
        assert_eq!(
            d.default_uri(),
            "nodelocal://1/d?COCKROACH_LOCALITY=default"
        );
        assert_eq!(d.localities(), vec!["az=us-west1-b", "region=us-west1"]);
        let west_b = Locality::parse("region=us-west1,az=us-west1-b").expect("loc");
        assert_eq!(d.for_locality(&west_b).1.as_deref(), Some("az=us-west1-b"));
        let west_a = Locality::parse("region=us-west1,az=us-west1-a").expect("loc");
        assert_eq!(
            d.for_locality(&west_a).1.as_deref(),
            Some("region=us-west1")
        );
        let east = Locality::parse("region=us-east1").expect("loc");
        assert_eq!(d.for_locality(&east), (d.default_uri(), None));
        assert_eq!(
            d.uri_of(Some("region=us-west1")),
            Some(d.uris[1].uri.as_str())
        );

        for (given, want) in [
            (
                vec![
                    "nodelocal://1/a?COCKROACH_LOCALITY=region%3Dx",
                    "nodelocal://1/b",
                ],
                "multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified",
            ),
            (
                vec![
                    "nodelocal://1/a?COCKROACH_LOCALITY=region%3Dx",
                    "nodelocal://1/b?COCKROACH_LOCALITY=region%3Dy",
                ],
                "no default URL provided for partitioned backup",
            ),
            (
                vec![
                    "nodelocal://1/a?COCKROACH_LOCALITY=default",
                    "nodelocal://1/b?COCKROACH_LOCALITY=default",
                ],
                "multiple default URLs provided for partition backup",
            ),
            (
                vec![
                    "nodelocal://1/a?COCKROACH_LOCALITY=default",
                    "nodelocal://1/b?COCKROACH_LOCALITY=region%3Deast%2Caz%3Daz1",
                ],
                r#"tier must be in the form "key=value" not "region=east,az=az1""#,
            ),
        ] {
            let err = parse_destinations(&uris(&given)).expect_err("bad");
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn mismatched_localities_text() {
        let err = check_same_localities(
            &["region=us-east-1".into(), "region=us-west-1".into()],
            &["region=us-west-1".into()],
        )
        .expect_err("mismatch");
        assert_eq!(
            err.to_string(),
            "Requested backup has localities [region=us-east-1 region=us-west-1], but a previous \
             backup layer in this collection has localities [region=us-west-1]. Mismatched \
             backup layers are not supported. Please take a new full backup with the new \
             localities, or an incremental backup with matching localities."
        );
        assert!(check_same_localities(&[], &[]).is_ok());
    }

    #[tokio::test]
    async fn listing_sees_only_complete_backups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = cloud::StorageContext::new(base::NodeId(1), dir.path());
        let s = cloud::open("nodelocal://1/coll", &ctx).expect("open");
        let put = |p: String| {
            let s = s.clone();
            async move { s.put(&p, Bytes::from_static(b"x")).await.expect("put") }
        };
        put(format!("2023/06/01-123456.78/{MANIFEST_NAME}")).await;
        put(format!("2023/06/01-123456.78/{CHECKSUM_NAME}")).await;
        put("2023/06/02-000000.00/data/1.sst".into()).await;
        put(format!("2023/07/01-000000.00/{MANIFEST_NAME}")).await;
        put(format!(
            "incrementals/2023/06/01-123456.78/20230602/101530.55/{MANIFEST_NAME}"
        ))
        .await;
        put("incrementals/2023/06/01-123456.78/20230603/000000.00/data/2.sst".into()).await;
        assert_eq!(
            list_full_backups(s.as_ref()).await.expect("list"),
            vec!["/2023/06/01-123456.78", "/2023/07/01-000000.00"]
        );
        assert_eq!(
            resolve_chain(s.as_ref(), "/2023/06/01-123456.78")
                .await
                .expect("chain"),
            vec![
                "2023/06/01-123456.78",
                "incrementals/2023/06/01-123456.78/20230602/101530.55"
            ]
        );
        let err = resolve_chain(s.as_ref(), "2023/06/02-000000.00")
            .await
            .expect_err("incomplete");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(read_latest(s.as_ref()).await.is_err());
        write_latest(s.as_ref(), "2023/07/01-000000.00")
            .await
            .expect("latest");
        assert_eq!(
            read_latest(s.as_ref()).await.expect("latest"),
            "/2023/07/01-000000.00"
        );
    }
}
