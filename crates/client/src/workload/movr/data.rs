//! movr's rows, generated from a seed.
//!
//! Every row is a pure function of the seed, its table and its index ([`Rng::for_item`]), so
//! the same seed always yields the same database, whatever the batch size. Rows are grouped by
//! city as movr groups them (row `i` of `n` belongs to city `i * 9 / n`) and their ids are
//! evenly spread UUIDs ([`spaced_uuid`]); every foreign key points at a row of the same city:
//! a vehicle's owner, a ride's rider and vehicle, a location history's ride.

use crate::workload::rng::{Rng, spaced_uuid};

/// movr's cities and the region group (`us_east`, `us_west`, `eu_west`) of each.
pub const CITIES: [(&str, Group); 9] = [
    ("new york", Group::UsEast),
    ("boston", Group::UsEast),
    ("washington dc", Group::UsEast),
    ("seattle", Group::UsWest),
    ("san francisco", Group::UsWest),
    ("los angeles", Group::UsWest),
    ("amsterdam", Group::EuWest),
    ("paris", Group::EuWest),
    ("rome", Group::EuWest),
];

/// The part of the world a city is in, matched to the cluster's regions in a multi-region
/// movr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// New York, Boston, Washington DC.
    UsEast,
    /// Seattle, San Francisco, Los Angeles.
    UsWest,
    /// Amsterdam, Paris, Rome.
    EuWest,
}

/// A SQL value as a literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// A string literal (quoted when written).
    Str(String),
    /// A number, written as is.
    Num(String),
}

impl Value {
    /// The SQL literal.
    pub fn sql(&self) -> String {
        match self {
            Value::Null => "NULL".to_string(),
            Value::Str(s) => quote(s),
            Value::Num(n) => n.clone(),
        }
    }

    /// The string, for a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// `s` as a SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How many rows of each table `init` loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// `users` rows.
    pub users: u64,
    /// `vehicles` rows.
    pub vehicles: u64,
    /// `rides` rows.
    pub rides: u64,
    /// `vehicle_location_histories` rows.
    pub histories: u64,
    /// `promo_codes` rows.
    pub promo_codes: u64,
}

impl Sizes {
    /// Each table with its columns and its number of rows, in loading order.
    pub fn tables(&self) -> [(&'static str, &'static [&'static str], u64); 5] {
        [
            ("users", &USER_COLUMNS, self.users),
            ("vehicles", &VEHICLE_COLUMNS, self.vehicles),
            ("rides", &RIDE_COLUMNS, self.rides),
            (
                "vehicle_location_histories",
                &HISTORY_COLUMNS,
                self.histories,
            ),
            ("promo_codes", &PROMO_COLUMNS, self.promo_codes),
        ]
    }
}

impl Default for Sizes {
    /// movr's defaults.
    fn default() -> Sizes {
        Sizes {
            users: 50,
            vehicles: 15,
            rides: 500,
            histories: 1000,
            promo_codes: 1000,
        }
    }
}

const FIRST: [&str; 24] = [
    "Tyler", "Dillon", "Maria", "James", "Ana", "Lucas", "Emma", "Noah", "Olivia", "Liam", "Ava",
    "Mason", "Sophia", "Ethan", "Mia", "Logan", "Chloe", "Aiden", "Grace", "Elena", "Marco",
    "Sara", "Jan", "Lea",
];
const LAST: [&str; 24] = [
    "Dalton", "Martin", "Garcia", "Smith", "Johnson", "Brown", "Jones", "Miller", "Davis", "Lopez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "White", "Harris", "Clark",
    "Lewis", "Rossi", "Bianchi", "de Vries", "Dubois",
];
const STREETS: [&str; 16] = [
    "Angela Gardens",
    "Butler Plain",
    "Stephanie Route",
    "Christopher Locks",
    "Katherine Plains",
    "Patrick Bridge",
    "Jackson Inlet",
    "Katherine Port",
    "Main Street",
    "Oak Avenue",
    "Harbor Drive",
    "Elm Court",
    "Canal Street",
    "Mill Lane",
    "Park Row",
    "River Road",
];
const VEHICLE_TYPES: [&str; 3] = ["skateboard", "bike", "scooter"];
const STATUSES: [&str; 3] = ["available", "in_use", "lost"];
const COLORS: [&str; 5] = ["red", "yellow", "blue", "green", "black"];
const BRANDS: [&str; 4] = ["Merida", "Fuji", "Cervelo", "Schwinn"];
const WORDS: [&str; 16] = [
    "ride", "free", "summer", "city", "fast", "green", "weekend", "night", "early", "bird",
    "super", "saver", "first", "loyal", "friend", "spring",
];

/// Table streams for [`Rng::for_item`].
const USERS: u64 = 1;
const VEHICLES: u64 = 2;
const RIDES: u64 = 3;
const HISTORIES: u64 = 4;
const PROMO_CODES: u64 = 5;

/// The city of row `i` of `n`.
pub fn city_index(i: u64, n: u64) -> usize {
    (i * CITIES.len() as u64 / n.max(1)) as usize
}

/// The rows `0..n` that belong to city `c`.
pub fn rows_of_city(c: usize, n: u64) -> std::ops::Range<u64> {
    let k = CITIES.len() as u64;
    let start = (c as u64 * n).div_ceil(k);
    let end = ((c as u64 + 1) * n).div_ceil(k);
    start..end
}

fn pick_in_city(rng: &mut Rng, c: usize, n: u64, id: fn(u64, u64) -> String) -> Value {
    let rows = rows_of_city(c, n);
    if rows.is_empty() {
        return Value::Null;
    }
    let i = rows.start + rng.below(rows.end - rows.start);
    Value::Str(id(i, n))
}

fn user_id(i: u64, n: u64) -> String {
    spaced_uuid(i, n)
}

/// A person's name.
pub fn name(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(&FIRST), rng.pick(&LAST))
}

/// A street address.
pub fn address(rng: &mut Rng) -> String {
    format!("{} {}", 1 + rng.below(99_999), rng.pick(&STREETS))
}

/// A ten-digit card number.
pub fn credit_card(rng: &mut Rng) -> String {
    format!("{:010}", rng.below(10_000_000_000))
}

/// A timestamp in January 2019; `hour` below 23 leaves room for an hour after it.
fn timestamp(rng: &mut Rng) -> (u64, u64, u64, u64) {
    (
        1 + rng.below(28),
        rng.below(23),
        rng.below(60),
        rng.below(60),
    )
}

fn ts_text((d, h, m, s): (u64, u64, u64, u64)) -> String {
    format!("2019-01-{d:02} {h:02}:{m:02}:{s:02}")
}

/// Column names of each table, in insert order.
pub const USER_COLUMNS: [&str; 5] = ["id", "city", "name", "address", "credit_card"];
/// `vehicles` columns.
pub const VEHICLE_COLUMNS: [&str; 8] = [
    "id",
    "city",
    "type",
    "owner_id",
    "creation_time",
    "status",
    "current_location",
    "ext",
];
/// `rides` columns.
pub const RIDE_COLUMNS: [&str; 10] = [
    "id",
    "city",
    "vehicle_city",
    "rider_id",
    "vehicle_id",
    "start_address",
    "end_address",
    "start_time",
    "end_time",
    "revenue",
];
/// `vehicle_location_histories` columns.
pub const HISTORY_COLUMNS: [&str; 5] = ["city", "ride_id", "timestamp", "lat", "long"];
/// `promo_codes` columns.
pub const PROMO_COLUMNS: [&str; 5] = [
    "code",
    "description",
    "creation_time",
    "expiration_time",
    "rules",
];

/// User `i` of `sizes.users`.
pub fn user(seed: u64, sizes: &Sizes, i: u64) -> Vec<Value> {
    let mut rng = Rng::for_item(seed, USERS, i);
    let c = city_index(i, sizes.users);
    vec![
        Value::Str(user_id(i, sizes.users)),
        Value::Str(CITIES[c].0.into()),
        Value::Str(name(&mut rng)),
        Value::Str(address(&mut rng)),
        Value::Str(credit_card(&mut rng)),
    ]
}

/// The `ext` JSON of a vehicle of `kind`.
pub fn vehicle_ext(rng: &mut Rng, kind: &str) -> String {
    let color = rng.pick(&COLORS);
    if kind == "bike" {
        format!(
            r#"{{"brand": "{}", "color": "{color}"}}"#,
            rng.pick(&BRANDS)
        )
    } else {
        format!(r#"{{"color": "{color}"}}"#)
    }
}

/// A vehicle type.
pub fn vehicle_type(rng: &mut Rng) -> &'static str {
    let kind: &&str = rng.pick(&VEHICLE_TYPES);
    kind
}

/// Vehicle `i` of `sizes.vehicles`, owned by a user of its city.
pub fn vehicle(seed: u64, sizes: &Sizes, i: u64) -> Vec<Value> {
    let mut rng = Rng::for_item(seed, VEHICLES, i);
    let c = city_index(i, sizes.vehicles);
    let kind = vehicle_type(&mut rng);
    vec![
        Value::Str(spaced_uuid(i, sizes.vehicles)),
        Value::Str(CITIES[c].0.into()),
        Value::Str(kind.into()),
        pick_in_city(&mut rng, c, sizes.users, user_id),
        Value::Str(ts_text(timestamp(&mut rng))),
        Value::Str(rng.pick(&STATUSES).to_string()),
        Value::Str(address(&mut rng)),
        Value::Str(vehicle_ext(&mut rng, kind)),
    ]
}

/// A fare: 0.00 to 99.99.
pub fn revenue(rng: &mut Rng) -> String {
    let cents = rng.below(10_000);
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Ride `i` of `sizes.rides`, by a user of its city on a vehicle of its city.
pub fn ride(seed: u64, sizes: &Sizes, i: u64) -> Vec<Value> {
    let mut rng = Rng::for_item(seed, RIDES, i);
    let c = city_index(i, sizes.rides);
    let city = CITIES[c].0;
    let start = timestamp(&mut rng);
    let end = (start.0, start.1 + 1, rng.below(60), rng.below(60));
    vec![
        Value::Str(spaced_uuid(i, sizes.rides)),
        Value::Str(city.into()),
        Value::Str(city.into()),
        pick_in_city(&mut rng, c, sizes.users, user_id),
        pick_in_city(&mut rng, c, sizes.vehicles, spaced_uuid),
        Value::Str(address(&mut rng)),
        Value::Str(address(&mut rng)),
        Value::Str(ts_text(start)),
        Value::Str(ts_text(end)),
        Value::Num(revenue(&mut rng)),
    ]
}

/// A latitude and longitude.
pub fn position(rng: &mut Rng) -> (String, String) {
    (
        format!("{:.6}", -90.0 + 180.0 * rng.unit()),
        format!("{:.6}", -180.0 + 360.0 * rng.unit()),
    )
}

/// Location history entry `i` of `sizes.histories`, of a ride (none when there are no rides).
pub fn history(seed: u64, sizes: &Sizes, i: u64) -> Option<Vec<Value>> {
    if sizes.rides == 0 {
        return None;
    }
    let mut rng = Rng::for_item(seed, HISTORIES, i);
    let r = rng.below(sizes.rides);
    let c = city_index(r, sizes.rides);
    let (d, h, m, s) = timestamp(&mut rng);
    let (lat, long) = position(&mut rng);
    Some(vec![
        Value::Str(CITIES[c].0.into()),
        Value::Str(spaced_uuid(r, sizes.rides)),
        // The fraction makes (ride, timestamp) unique.
        Value::Str(format!(
            "2019-01-{d:02} {h:02}:{m:02}:{s:02}.{:06}",
            i % 1_000_000
        )),
        Value::Num(lat),
        Value::Num(long),
    ])
}

/// Row `i` of `table` (one of [`Sizes::tables`]; any other name is `promo_codes`), or none
/// where [`history`] has none.
pub fn row(seed: u64, sizes: &Sizes, table: &str, i: u64) -> Option<Vec<Value>> {
    match table {
        "users" => Some(user(seed, sizes, i)),
        "vehicles" => Some(vehicle(seed, sizes, i)),
        "rides" => Some(ride(seed, sizes, i)),
        "vehicle_location_histories" => history(seed, sizes, i),
        _ => Some(promo_code(seed, i)),
    }
}

/// Promo code `i`; codes are unique by their index suffix.
pub fn promo_code(seed: u64, i: u64) -> Vec<Value> {
    let mut rng = Rng::for_item(seed, PROMO_CODES, i);
    let code = format!("{}_{}_{i}", rng.pick(&WORDS), rng.pick(&WORDS));
    let pct = 5 * (1 + rng.below(10));
    let created = timestamp(&mut rng);
    let expires = (created.0, created.1, created.2, created.3);
    vec![
        Value::Str(code),
        Value::Str(format!("{pct} percent off a ride")),
        Value::Str(ts_text(created)),
        Value::Str(ts_text(expires).replacen("2019", "2020", 1)),
        Value::Str(format!(
            r#"{{"type": "percent_discount", "value": "{pct}%"}}"#
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_rows() {
        let sizes = Sizes::default();
        for i in [0, 17, 49] {
            assert_eq!(user(42, &sizes, i), user(42, &sizes, i));
        }
        assert_eq!(vehicle(42, &sizes, 3), vehicle(42, &sizes, 3));
        assert_eq!(ride(42, &sizes, 400), ride(42, &sizes, 400));
        assert_eq!(history(42, &sizes, 9), history(42, &sizes, 9));
        assert_eq!(promo_code(42, 9), promo_code(42, 9));
        assert_ne!(user(42, &sizes, 0), user(43, &sizes, 0));
        assert_ne!(ride(42, &sizes, 1), ride(42, &sizes, 2));
    }

    #[test]
    fn cities_partition_rows() {
        for n in [1, 5, 9, 15, 50, 500] {
            let mut covered = 0;
            for c in 0..CITIES.len() {
                for i in rows_of_city(c, n) {
                    assert_eq!(city_index(i, n), c, "row {i} of {n}");
                    covered += 1;
                }
            }
            assert_eq!(covered, n);
        }
    }

    #[test]
    fn foreign_keys_stay_in_the_city() {
        let sizes = Sizes::default();
        let users: Vec<Vec<Value>> = (0..sizes.users).map(|i| user(1, &sizes, i)).collect();
        let vehicles: Vec<Vec<Value>> =
            (0..sizes.vehicles).map(|i| vehicle(1, &sizes, i)).collect();
        let has = |rows: &[Vec<Value>], city: &Value, id: &Value| {
            *id == Value::Null || rows.iter().any(|r| r[0] == *id && r[1] == *city)
        };
        for v in &vehicles {
            assert!(has(&users, &v[1], &v[3]), "{v:?}");
        }
        let rides: Vec<Vec<Value>> = (0..sizes.rides).map(|i| ride(1, &sizes, i)).collect();
        for r in &rides {
            assert!(has(&users, &r[1], &r[3]), "{r:?}");
            assert!(has(&vehicles, &r[2], &r[4]), "{r:?}");
            assert_eq!(r[1], r[2]);
        }
        let mut keys = std::collections::HashSet::new();
        for i in 0..sizes.histories {
            let h = history(1, &sizes, i).expect("rides exist");
            assert!(rides.iter().any(|r| r[0] == h[1] && r[1] == h[0]), "{h:?}");
            assert!(keys.insert((h[1].clone().sql(), h[2].clone().sql())));
        }
        let codes: std::collections::HashSet<String> = (0..sizes.promo_codes)
            .map(|i| promo_code(1, i)[0].sql())
            .collect();
        assert_eq!(codes.len() as u64, sizes.promo_codes);
    }

    #[test]
    fn literals() {
        assert_eq!(Value::Str("it's".into()).sql(), "'it''s'");
        assert_eq!(Value::Null.sql(), "NULL");
        assert_eq!(Value::Num("1.50".into()).sql(), "1.50");
    }
}
