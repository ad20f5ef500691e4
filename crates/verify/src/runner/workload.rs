//! The workloads: what the clients do over SQL, and which checker judges it.
//!
//! A [`Workload`] creates its table ([`Workload::setup`]), generates random operations
//! ([`Workload::generate`], shared state such as key rotation lives in the workload), runs
//! one against a connection ([`Workload::execute`], returning the completed [`Call`] with
//! its results or an [`OpError`]), and names the reads to take once every fault is healed
//! ([`Workload::final_calls`]).
//!
//! | workload    | table                                  | operations |
//! |-------------|----------------------------------------|------------|
//! | `register`  | `registers (k INT PRIMARY KEY, v INT)` | `SELECT v`, `UPSERT`, `UPDATE ... WHERE v = old` (cas: 1 row ok, 0 rows fail); keys rotate every [`WorkloadOptions::ops_per_key`] operations |
//! | `bank`      | `accounts (id INT PRIMARY KEY, balance INT)` | transfers `BEGIN; SELECT; SELECT; UPDATE; UPDATE; COMMIT`, full reads in a transaction |
//! | `set`       | `sets (v INT PRIMARY KEY)`             | `INSERT` of unique values, occasional full reads |
//! | `append`    | `lists (k INT PRIMARY KEY, v STRING)`  | transactions of 1–4 reads and appends (`INSERT ... ON CONFLICT (k) DO UPDATE SET v = lists.v \|\| ',' \|\| excluded.v`) over a window of active keys, each retired after a few appends |
//! | `monotonic` | `counters (k INT PRIMARY KEY, v INT)`  | increments `BEGIN; SELECT v; UPDATE v+1; COMMIT`, reads |

use super::client::{OpError, classify, definite, in_txn};
use crate::checker::{self, CheckOptions};
use crate::history::{Call, History, Key, Mop};
use crate::verdict::Verdict;
use anyhow::Context;
use rand::Rng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio_postgres::Client;

/// Knobs of the workloads.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    /// register: operations per key before the next key (keeps each key's search small).
    pub ops_per_key: u64,
    /// bank: number of accounts.
    pub accounts: i64,
    /// bank: initial balance of each account.
    pub initial_balance: i64,
    /// append: keys in use at once.
    pub active_keys: usize,
    /// append: appends to a key before it is retired.
    pub appends_per_key: u32,
    /// monotonic: number of counters.
    pub counters: i64,
}

impl Default for WorkloadOptions {
    fn default() -> WorkloadOptions {
        WorkloadOptions {
            ops_per_key: 150,
            accounts: 5,
            initial_balance: 100,
            active_keys: 6,
            appends_per_key: 24,
            counters: 4,
        }
    }
}

/// A workload run against the cluster.
pub trait Workload: Send + Sync + 'static {
    /// Which workload (and checker) this is.
    fn kind(&self) -> checker::Workload;

    /// The table, and the keys below which a split is interesting (for the split nemesis).
    fn table(&self) -> (&'static str, i64);

    /// Creates the table and its initial rows.
    fn setup(&self, client: &Client) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The next operation to invoke.
    fn generate(&self, rng: &mut StdRng) -> Call;

    /// Runs `call`; on success returns it completed with its results.
    fn execute(
        &self,
        client: &Client,
        call: &Call,
    ) -> impl Future<Output = Result<Call, OpError>> + Send;

    /// Reads to take after every fault was healed.
    fn final_calls(&self) -> Vec<Call>;

    /// Checks a history of this workload.
    fn check(&self, history: &History, opts: &CheckOptions) -> Verdict {
        checker::check(self.kind(), history, opts)
    }
}

/// Whether a call changes nothing (so a failure of it is never `info`).
pub fn is_read_only(call: &Call) -> bool {
    match call {
        Call::Read { .. }
        | Call::ReadAccounts { .. }
        | Call::ReadSet { .. }
        | Call::ReadCounter { .. } => true,
        Call::Txn { mops } => mops.iter().all(|m| matches!(m, Mop::Read(..))),
        Call::Write { .. } | Call::Cas { .. } | Call::Transfer { .. } | Call::Add { .. } => false,
        Call::Inc { .. } => false,
    }
}

fn unexpected(call: &Call) -> OpError {
    OpError::Definite(format!("workload cannot run {call}"))
}

fn get<T>(row: &tokio_postgres::Row, i: usize) -> Result<T, OpError>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    row.try_get(i)
        .map_err(|e| OpError::Indefinite(format!("unexpected column type: {e}")))
}

// ---- register ----

/// Read/write/cas registers.
pub struct Register {
    ops: AtomicU64,
    ops_per_key: u64,
}

impl Register {
    /// A register workload.
    pub fn new(opts: &WorkloadOptions) -> Register {
        Register {
            ops: AtomicU64::new(0),
            ops_per_key: opts.ops_per_key.max(1),
        }
    }
}

impl Workload for Register {
    fn kind(&self) -> checker::Workload {
        checker::Workload::Register
    }

    fn table(&self) -> (&'static str, i64) {
        let keys = self.ops.load(Ordering::Relaxed) / self.ops_per_key + 1;
        ("registers", keys as i64)
    }

    async fn setup(&self, client: &Client) -> anyhow::Result<()> {
        client
            .batch_execute("CREATE TABLE registers (k INT PRIMARY KEY, v INT)")
            .await
            .context("creating registers")
    }

    fn generate(&self, rng: &mut StdRng) -> Call {
        let key = (self.ops.fetch_add(1, Ordering::Relaxed) / self.ops_per_key) as Key;
        match rng.random_range(0..3) {
            0 => Call::Read { key, value: None },
            1 => Call::Write {
                key,
                value: rng.random_range(0..5),
            },
            _ => Call::Cas {
                key,
                from: rng.random_range(0..5),
                to: rng.random_range(0..5),
            },
        }
    }

    async fn execute(&self, client: &Client, call: &Call) -> Result<Call, OpError> {
        match *call {
            Call::Read { key, .. } => {
                let row = client
                    .query_opt("SELECT v FROM registers WHERE k = $1", &[&key])
                    .await
                    .map_err(|e| classify(&e))?;
                let value = match row {
                    Some(r) => get::<Option<i64>>(&r, 0)?,
                    None => None,
                };
                Ok(Call::Read { key, value })
            }
            Call::Write { key, value } => {
                client
                    .execute(
                        "UPSERT INTO registers (k, v) VALUES ($1, $2)",
                        &[&key, &value],
                    )
                    .await
                    .map_err(|e| classify(&e))?;
                Ok(call.clone())
            }
            Call::Cas { key, from, to } => {
                let n = client
                    .execute(
                        "UPDATE registers SET v = $3 WHERE k = $1 AND v = $2",
                        &[&key, &from, &to],
                    )
                    .await
                    .map_err(|e| classify(&e))?;
                match n {
                    1 => Ok(call.clone()),
                    0 => Err(OpError::Definite(format!(
                        "cas: key {key} does not hold {from}"
                    ))),
                    n => Err(OpError::Indefinite(format!("cas updated {n} rows"))),
                }
            }
            _ => Err(unexpected(call)),
        }
    }

    fn final_calls(&self) -> Vec<Call> {
        Vec::new()
    }
}

// ---- bank ----

/// Transfers between accounts.
pub struct Bank {
    accounts: i64,
    initial: i64,
}

impl Bank {
    /// A bank workload.
    pub fn new(opts: &WorkloadOptions) -> Bank {
        Bank {
            accounts: opts.accounts.max(2),
            initial: opts.initial_balance,
        }
    }

    /// The checker's view of this bank.
    pub fn options(opts: &WorkloadOptions) -> checker::bank::BankOptions {
        let b = Bank::new(opts);
        checker::bank::BankOptions {
            accounts: (0..b.accounts).collect(),
            total: b.accounts * b.initial,
            allow_negative: false,
            require_final_read: true,
        }
    }

    async fn read(client: &Client, final_read: bool) -> Result<Call, OpError> {
        let rows = in_txn(client, async |c: &Client| {
            c.query("SELECT id, balance FROM accounts", &[])
                .await
                .map_err(definite)
        })
        .await?;
        let mut balances = BTreeMap::new();
        for r in &rows {
            balances.insert(get::<i64>(r, 0)?, get::<i64>(r, 1)?);
        }
        Ok(Call::ReadAccounts {
            balances: Some(balances),
            final_read,
        })
    }
}

async fn balance(c: &Client, id: i64) -> Result<i64, OpError> {
    let row = c
        .query_one("SELECT balance FROM accounts WHERE id = $1", &[&id])
        .await
        .map_err(definite)?;
    get(&row, 0)
}

impl Workload for Bank {
    fn kind(&self) -> checker::Workload {
        checker::Workload::Bank
    }

    fn table(&self) -> (&'static str, i64) {
        ("accounts", self.accounts)
    }

    async fn setup(&self, client: &Client) -> anyhow::Result<()> {
        client
            .batch_execute("CREATE TABLE accounts (id INT PRIMARY KEY, balance INT)")
            .await
            .context("creating accounts")?;
        for id in 0..self.accounts {
            client
                .execute(
                    "INSERT INTO accounts (id, balance) VALUES ($1, $2)",
                    &[&id, &self.initial],
                )
                .await
                .context("inserting an account")?;
        }
        Ok(())
    }

    fn generate(&self, rng: &mut StdRng) -> Call {
        if rng.random_bool(0.2) {
            return Call::ReadAccounts {
                balances: None,
                final_read: false,
            };
        }
        let from = rng.random_range(0..self.accounts);
        let to = (from + rng.random_range(1..self.accounts)) % self.accounts;
        Call::Transfer {
            from,
            to,
            amount: rng.random_range(1..=5),
        }
    }

    async fn execute(&self, client: &Client, call: &Call) -> Result<Call, OpError> {
        match *call {
            Call::ReadAccounts { final_read, .. } => Bank::read(client, final_read).await,
            Call::Transfer { from, to, amount } => {
                in_txn(client, async |c: &Client| {
                    let (b_from, b_to) = (balance(c, from).await?, balance(c, to).await?);
                    if b_from < amount {
                        return Err(OpError::Definite(format!(
                            "account {from} holds {b_from}, less than {amount}"
                        )));
                    }
                    let update = "UPDATE accounts SET balance = $2 WHERE id = $1";
                    c.execute(update, &[&from, &(b_from - amount)])
                        .await
                        .map_err(definite)?;
                    c.execute(update, &[&to, &(b_to + amount)])
                        .await
                        .map_err(definite)?;
                    Ok(())
                })
                .await?;
                Ok(call.clone())
            }
            _ => Err(unexpected(call)),
        }
    }

    fn final_calls(&self) -> Vec<Call> {
        vec![Call::ReadAccounts {
            balances: None,
            final_read: true,
        }]
    }
}

// ---- set ----

/// Unique inserts.
pub struct Set {
    next: AtomicI64,
}

impl Set {
    /// A set workload.
    pub fn new() -> Set {
        Set {
            next: AtomicI64::new(0),
        }
    }
}

impl Default for Set {
    fn default() -> Set {
        Set::new()
    }
}

impl Workload for Set {
    fn kind(&self) -> checker::Workload {
        checker::Workload::Set
    }

    fn table(&self) -> (&'static str, i64) {
        ("sets", self.next.load(Ordering::Relaxed).max(1))
    }

    async fn setup(&self, client: &Client) -> anyhow::Result<()> {
        client
            .batch_execute("CREATE TABLE sets (v INT PRIMARY KEY)")
            .await
            .context("creating sets")
    }

    fn generate(&self, rng: &mut StdRng) -> Call {
        if rng.random_bool(0.05) {
            return Call::ReadSet {
                elements: None,
                final_read: false,
            };
        }
        Call::Add {
            element: self.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    async fn execute(&self, client: &Client, call: &Call) -> Result<Call, OpError> {
        match *call {
            Call::Add { element } => {
                client
                    .execute("INSERT INTO sets (v) VALUES ($1)", &[&element])
                    .await
                    .map_err(|e| classify(&e))?;
                Ok(call.clone())
            }
            Call::ReadSet { final_read, .. } => {
                let rows = client
                    .query("SELECT v FROM sets", &[])
                    .await
                    .map_err(|e| classify(&e))?;
                let elements = rows.iter().map(|r| get(r, 0)).collect::<Result<_, _>>()?;
                Ok(Call::ReadSet {
                    elements: Some(elements),
                    final_read,
                })
            }
            _ => Err(unexpected(call)),
        }
    }

    fn final_calls(&self) -> Vec<Call> {
        vec![Call::ReadSet {
            elements: None,
            final_read: true,
        }]
    }
}

// ---- append ----

/// The keys transactions pick from: a window of active keys, each retired after a number of
/// appends so that lists stay short and reads reveal a full order.
struct KeyWindow {
    active: Vec<(Key, u32)>,
    next_key: Key,
}

/// List-append transactions.
pub struct Append {
    window: Mutex<KeyWindow>,
    next_value: AtomicI64,
    appends_per_key: u32,
}

impl Append {
    /// An append workload.
    pub fn new(opts: &WorkloadOptions) -> Append {
        let n = opts.active_keys.max(1) as Key;
        Append {
            window: Mutex::new(KeyWindow {
                active: (0..n).map(|k| (k, 0)).collect(),
                next_key: n,
            }),
            next_value: AtomicI64::new(1),
            appends_per_key: opts.appends_per_key.max(1),
        }
    }

    fn keys_used(&self) -> Key {
        self.window.lock().map_or(0, |w| w.next_key)
    }
}

/// A list as stored: elements joined with commas.
fn parse_list(text: Option<String>) -> Result<Vec<i64>, OpError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim().parse().map_err(|_| {
                tracing::error!("unparseable list {text:?}");
                OpError::Indefinite(format!("unparseable list {text:?}"))
            })
        })
        .collect()
}

impl Workload for Append {
    fn kind(&self) -> checker::Workload {
        checker::Workload::Append
    }

    fn table(&self) -> (&'static str, i64) {
        ("lists", self.keys_used().max(1))
    }

    async fn setup(&self, client: &Client) -> anyhow::Result<()> {
        client
            .batch_execute("CREATE TABLE lists (k INT PRIMARY KEY, v STRING)")
            .await
            .context("creating lists")
    }

    fn generate(&self, rng: &mut StdRng) -> Call {
        let n = rng.random_range(1..=4);
        let mut mops = Vec::with_capacity(n);
        let Ok(mut w) = self.window.lock() else {
            return Call::Txn { mops };
        };
        for _ in 0..n {
            let slot = rng.random_range(0..w.active.len());
            let key = w.active[slot].0;
            if rng.random_bool(0.5) {
                mops.push(Mop::Read(key, None));
                continue;
            }
            mops.push(Mop::Append(
                key,
                self.next_value.fetch_add(1, Ordering::Relaxed),
            ));
            w.active[slot].1 += 1;
            if w.active[slot].1 >= self.appends_per_key {
                w.active[slot] = (w.next_key, 0);
                w.next_key += 1;
            }
        }
        Call::Txn { mops }
    }

    async fn execute(&self, client: &Client, call: &Call) -> Result<Call, OpError> {
        let Call::Txn { mops } = call else {
            return Err(unexpected(call));
        };
        let done = in_txn(client, async |c: &Client| {
            let mut done = Vec::with_capacity(mops.len());
            for m in mops {
                match *m {
                    Mop::Read(k, _) => {
                        let row = c
                            .query_opt("SELECT v FROM lists WHERE k = $1", &[&k])
                            .await
                            .map_err(definite)?;
                        let text = match row {
                            Some(r) => get::<Option<String>>(&r, 0)?,
                            None => None,
                        };
                        done.push(Mop::Read(k, Some(parse_list(text)?)));
                    }
                    Mop::Append(k, v) => {
                        c.execute(
                            "INSERT INTO lists (k, v) VALUES ($1, $2) ON CONFLICT (k) \
                             DO UPDATE SET v = lists.v || ',' || excluded.v",
                            &[&k, &v.to_string()],
                        )
                        .await
                        .map_err(definite)?;
                        done.push(Mop::Append(k, v));
                    }
                }
            }
            Ok(done)
        })
        .await?;
        Ok(Call::Txn { mops: done })
    }

    fn final_calls(&self) -> Vec<Call> {
        let keys: Vec<Key> = (0..self.keys_used()).collect();
        keys.chunks(8)
            .map(|ks| Call::Txn {
                mops: ks.iter().map(|k| Mop::Read(*k, None)).collect(),
            })
            .collect()
    }
}

// ---- monotonic ----

/// Counters incremented in read-modify-write transactions.
pub struct Monotonic {
    counters: i64,
}

impl Monotonic {
    /// A monotonic workload.
    pub fn new(opts: &WorkloadOptions) -> Monotonic {
        Monotonic {
            counters: opts.counters.max(1),
        }
    }
}

impl Workload for Monotonic {
    fn kind(&self) -> checker::Workload {
        checker::Workload::Monotonic
    }

    fn table(&self) -> (&'static str, i64) {
        ("counters", self.counters)
    }

    async fn setup(&self, client: &Client) -> anyhow::Result<()> {
        client
            .batch_execute("CREATE TABLE counters (k INT PRIMARY KEY, v INT)")
            .await
            .context("creating counters")?;
        for k in 0..self.counters {
            client
                .execute("INSERT INTO counters (k, v) VALUES ($1, 0)", &[&k])
                .await
                .context("inserting a counter")?;
        }
        Ok(())
    }

    fn generate(&self, rng: &mut StdRng) -> Call {
        let key = rng.random_range(0..self.counters);
        if rng.random_bool(0.5) {
            Call::Inc { key, value: None }
        } else {
            Call::ReadCounter { key, value: None }
        }
    }

    async fn execute(&self, client: &Client, call: &Call) -> Result<Call, OpError> {
        match *call {
            Call::Inc { key, .. } => {
                let value = in_txn(client, async |c: &Client| {
                    let row = c
                        .query_one("SELECT v FROM counters WHERE k = $1", &[&key])
                        .await
                        .map_err(definite)?;
                    let next = get::<i64>(&row, 0)? + 1;
                    c.execute("UPDATE counters SET v = $2 WHERE k = $1", &[&key, &next])
                        .await
                        .map_err(definite)?;
                    Ok(next)
                })
                .await?;
                Ok(Call::Inc {
                    key,
                    value: Some(value),
                })
            }
            Call::ReadCounter { key, .. } => {
                let row = client
                    .query_opt("SELECT v FROM counters WHERE k = $1", &[&key])
                    .await
                    .map_err(|e| classify(&e))?;
                let value = match row {
                    Some(r) => get::<Option<i64>>(&r, 0)?,
                    None => None,
                };
                Ok(Call::ReadCounter { key, value })
            }
            _ => Err(unexpected(call)),
        }
    }

    fn final_calls(&self) -> Vec<Call> {
        (0..self.counters)
            .map(|key| Call::ReadCounter { key, value: None })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lists_parse() {
        assert_eq!(parse_list(None), Ok(vec![]));
        assert_eq!(parse_list(Some("3".into())), Ok(vec![3]));
        assert_eq!(parse_list(Some("3,1,22".into())), Ok(vec![3, 1, 22]));
        assert!(parse_list(Some("3,x".into())).is_err());
    }

    #[test]
    fn append_keys_rotate_and_values_are_unique() {
        let a = Append::new(&WorkloadOptions {
            active_keys: 2,
            appends_per_key: 3,
            ..WorkloadOptions::default()
        });
        let mut rng = StdRng::seed_from_u64(7);
        let mut per_key: BTreeMap<Key, u32> = BTreeMap::new();
        let mut values = std::collections::HashSet::new();
        for _ in 0..200 {
            let Call::Txn { mops } = a.generate(&mut rng) else {
                panic!("not a txn");
            };
            for m in mops {
                if let Mop::Append(k, v) = m {
                    *per_key.entry(k).or_default() += 1;
                    assert!(values.insert(v));
                }
            }
        }
        assert!(per_key.len() > 10);
        assert!(per_key.values().all(|n| *n <= 3), "{per_key:?}");
    }

    #[test]
    fn register_keys_rotate() {
        let r = Register::new(&WorkloadOptions {
            ops_per_key: 10,
            ..WorkloadOptions::default()
        });
        let mut rng = StdRng::seed_from_u64(1);
        let keys: Vec<Key> = (0..30)
            .map(|_| match r.generate(&mut rng) {
                Call::Read { key, .. } | Call::Write { key, .. } | Call::Cas { key, .. } => key,
                _ => -1,
            })
            .collect();
        assert_eq!(keys[0], 0);
        assert_eq!(keys[10], 1);
        assert_eq!(keys[29], 2);
    }

    #[test]
    fn read_only_calls() {
        assert!(is_read_only(&Call::Txn {
            mops: vec![Mop::Read(1, None)]
        }));
        assert!(!is_read_only(&Call::Txn {
            mops: vec![Mop::Read(1, None), Mop::Append(1, 2)]
        }));
        assert!(!is_read_only(&Call::Add { element: 1 }));
    }
}
