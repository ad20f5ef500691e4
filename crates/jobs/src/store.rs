//! Job records in the system key space: `/System/jobs/<id, 8 bytes big-endian>`, encoded with
//! postcard. Every change is a read-modify-write in a KV transaction, so concurrent writers
//! (a coordinator's checkpoint, PAUSE JOB on another node, an adopting node) serialize.

use base::{Key, Span, keys};
use std::time::Duration;

use kv::{DistSender, KvError, Txn, run_txn};

use crate::{JobError, JobId, JobRecord};

/// The prefix of every job record.
const JOBS_PREFIX: &str = "jobs/";
/// Attempts of one read-modify-write before giving up.
const MAX_ATTEMPTS: usize = 50;

/// The key of job `id`'s record.
pub fn job_key(id: JobId) -> Key {
    let mut k = keys::system_key(JOBS_PREFIX).0;
    k.extend_from_slice(&id.to_be_bytes());
    Key(k)
}

/// The span of every job record.
pub fn jobs_span() -> Span {
    Span::prefix(&keys::system_key(JOBS_PREFIX).0)
}

fn encode(rec: &JobRecord) -> Result<Vec<u8>, JobError> {
    postcard::to_stdvec(rec).map_err(|e| JobError::Record(format!("encoding job {}: {e}", rec.id)))
}

fn decode(bytes: &[u8]) -> Result<JobRecord, JobError> {
    postcard::from_bytes(bytes).map_err(|e| JobError::Record(format!("decoding a job record: {e}")))
}

/// Writes a new record; fails if the id is taken.
pub async fn insert(sender: &DistSender, rec: &JobRecord) -> Result<(), JobError> {
    let key = job_key(rec.id);
    let value = encode(rec)?;
    let id = rec.id;
    run_txn(sender, |txn| {
        let key = key.clone();
        let value = value.clone();
        async move {
            if txn.get(&key).await?.is_some() {
                return Err(JobError::Record(format!("job {id} already exists")));
            }
            txn.put(&key, value).await?;
            Ok(())
        }
    })
    .await
}

/// Reads one record.
pub async fn get(sender: &DistSender, id: JobId) -> Result<JobRecord, JobError> {
    match kv::node::kv_get(sender, job_key(id)).await? {
        Some(v) => decode(&v),
        None => Err(JobError::NotFound(id)),
    }
}

/// Reads every record, by id.
pub async fn list(sender: &DistSender) -> Result<Vec<JobRecord>, JobError> {
    let span = jobs_span();
    let rows = run_txn(sender, |txn| {
        let span = span.clone();
        async move { txn.scan(&span, 0).await }
    })
    .await?;
    rows.iter().map(|kv| decode(&kv.value)).collect()
}

/// Reads job `id` in a transaction, lets `f` change it, and writes it back when `f` returns
/// `Ok(true)`. Returns the record as written (or as read, when `f` wrote nothing). Retries
/// the whole read-modify-write when the transaction must restart, so `f` may run more than
/// once.
pub async fn update<F>(sender: &DistSender, id: JobId, mut f: F) -> Result<JobRecord, JobError>
where
    F: FnMut(&mut JobRecord) -> Result<bool, JobError>,
{
    let key = job_key(id);
    let mut backoff = Duration::from_millis(5);
    let mut last = None;
    for _ in 0..MAX_ATTEMPTS {
        let txn = Txn::begin(sender);
        let attempt = async {
            let Some(v) = txn.get(&key).await? else {
                return Ok(Err(JobError::NotFound(id)));
            };
            let mut rec = match decode(&v) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            match f(&mut rec) {
                Ok(true) => {
                    let bytes = match encode(&rec) {
                        Ok(b) => b,
                        Err(e) => return Ok(Err(e)),
                    };
                    txn.put(&key, bytes).await?;
                    txn.commit().await?;
                    Ok(Ok(rec))
                }
                Ok(false) => Ok(Ok(rec)),
                Err(e) => Ok(Err(e)),
            }
        };
        let r: Result<Result<JobRecord, JobError>, KvError> = attempt.await;
        match r {
            Ok(Ok(rec)) => return Ok(rec),
            Ok(Err(e)) => {
                txn.rollback().await;
                return Err(e);
            }
            Err(e) if e.is_txn_restart() => {
                txn.rollback().await;
                last = Some(e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            Err(e) => {
                txn.rollback().await;
                return Err(e.into());
            }
        }
    }
    Err(JobError::Kv(last.unwrap_or_else(|| KvError::TxnRetry {
        reason: "too many retries".into(),
    })))
}
