//! movr's tables, as CockroachDB's movr workload creates them.
//!
//! The statements are plain SQL that PostgreSQL accepts too (secondary indexes are created
//! with `CREATE INDEX`, not inline). In a multi-region movr every table but `promo_codes` is
//! then altered to `REGIONAL BY ROW` (each row homed in its city's region through the hidden `crdb_region`
//! column) and `promo_codes`, read everywhere and rarely written, is `GLOBAL`.

/// The tables in creation order (referenced tables first), with their CREATE statements.
pub const TABLES: [(&str, &str); 6] = [
    (
        "users",
        "CREATE TABLE users (
    id UUID NOT NULL,
    city VARCHAR NOT NULL,
    name VARCHAR NULL,
    address VARCHAR NULL,
    credit_card VARCHAR NULL,
    CONSTRAINT users_pkey PRIMARY KEY (city, id)
)",
    ),
    (
        "vehicles",
        "CREATE TABLE vehicles (
    id UUID NOT NULL,
    city VARCHAR NOT NULL,
    type VARCHAR NULL,
    owner_id UUID NULL,
    creation_time TIMESTAMP NULL,
    status VARCHAR NULL,
    current_location VARCHAR NULL,
    ext JSONB NULL,
    CONSTRAINT vehicles_pkey PRIMARY KEY (city, id),
    CONSTRAINT vehicles_city_owner_id_fkey FOREIGN KEY (city, owner_id) REFERENCES users (city, id)
)",
    ),
    (
        "rides",
        "CREATE TABLE rides (
    id UUID NOT NULL,
    city VARCHAR NOT NULL,
    vehicle_city VARCHAR NULL,
    rider_id UUID NULL,
    vehicle_id UUID NULL,
    start_address VARCHAR NULL,
    end_address VARCHAR NULL,
    start_time TIMESTAMP NULL,
    end_time TIMESTAMP NULL,
    revenue DECIMAL(10,2) NULL,
    CONSTRAINT rides_pkey PRIMARY KEY (city, id),
    CONSTRAINT rides_city_rider_id_fkey FOREIGN KEY (city, rider_id) REFERENCES users (city, id),
    CONSTRAINT rides_vehicle_city_vehicle_id_fkey FOREIGN KEY (vehicle_city, vehicle_id) REFERENCES vehicles (city, id),
    CONSTRAINT check_vehicle_city_city CHECK (vehicle_city = city)
)",
    ),
    (
        "vehicle_location_histories",
        "CREATE TABLE vehicle_location_histories (
    city VARCHAR NOT NULL,
    ride_id UUID NOT NULL,
    \"timestamp\" TIMESTAMP NOT NULL,
    lat FLOAT8 NULL,
    long FLOAT8 NULL,
    CONSTRAINT vehicle_location_histories_pkey PRIMARY KEY (city, ride_id, \"timestamp\"),
    CONSTRAINT vehicle_location_histories_city_ride_id_fkey FOREIGN KEY (city, ride_id) REFERENCES rides (city, id)
)",
    ),
    (
        "promo_codes",
        "CREATE TABLE promo_codes (
    code VARCHAR NOT NULL,
    description VARCHAR NULL,
    creation_time TIMESTAMP NULL,
    expiration_time TIMESTAMP NULL,
    rules JSONB NULL,
    CONSTRAINT promo_codes_pkey PRIMARY KEY (code)
)",
    ),
    (
        "user_promo_codes",
        "CREATE TABLE user_promo_codes (
    city VARCHAR NOT NULL,
    user_id UUID NOT NULL,
    code VARCHAR NOT NULL,
    \"timestamp\" TIMESTAMP NULL,
    usage_count INT8 NULL,
    CONSTRAINT user_promo_codes_pkey PRIMARY KEY (city, user_id, code),
    CONSTRAINT user_promo_codes_city_user_id_fkey FOREIGN KEY (city, user_id) REFERENCES users (city, id)
)",
    ),
];

/// The secondary indexes movr has on its foreign keys.
pub const INDEXES: [&str; 3] = [
    "CREATE INDEX vehicles_auto_index_fk_city_ref_users ON vehicles (city ASC, owner_id ASC)",
    "CREATE INDEX rides_auto_index_fk_city_ref_users ON rides (city ASC, rider_id ASC)",
    "CREATE INDEX rides_auto_index_fk_vehicle_city_ref_vehicles ON rides (vehicle_city ASC, vehicle_id ASC)",
];

/// `CREATE DATABASE movr`, multi-region when `regions` (primary first) has two or more.
pub fn create_database(regions: &[String]) -> String {
    match regions.split_first() {
        Some((primary, rest)) if !rest.is_empty() => {
            let rest: Vec<String> = rest.iter().map(|r| ident(r)).collect();
            format!(
                "CREATE DATABASE movr PRIMARY REGION {} REGIONS {}",
                ident(primary),
                rest.join(", ")
            )
        }
        _ => "CREATE DATABASE movr".to_string(),
    }
}

/// The statement giving `table` its locality in a multi-region movr. It runs after the
/// tables exist, so the foreign keys are declared on `(city, id)` as in a single-region movr
/// and the REGIONAL BY ROW change keeps them.
pub fn set_locality(table: &str) -> String {
    match table {
        "promo_codes" => format!("ALTER TABLE {table} SET LOCALITY GLOBAL"),
        _ => format!("ALTER TABLE {table} SET LOCALITY REGIONAL BY ROW"),
    }
}

/// A double-quoted identifier.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases() {
        assert_eq!(create_database(&[]), "CREATE DATABASE movr");
        assert_eq!(
            create_database(&["us-east1".into()]),
            "CREATE DATABASE movr"
        );
        assert_eq!(
            create_database(&["us-east1".into(), "us-west1".into(), "europe-west1".into()]),
            "CREATE DATABASE movr PRIMARY REGION \"us-east1\" REGIONS \"us-west1\", \"europe-west1\""
        );
    }

    #[test]
    fn localities() {
        assert_eq!(
            set_locality("users"),
            "ALTER TABLE users SET LOCALITY REGIONAL BY ROW"
        );
        assert_eq!(
            set_locality("promo_codes"),
            "ALTER TABLE promo_codes SET LOCALITY GLOBAL"
        );
    }
}
