//! [`RedisConfig`] read from a configuration file (TOML, JSON, YAML: anything serde reads),
//! as a service keeps its settings: every field optional, the defaults of
//! [`RedisConfig::new`] for the rest, durations as text with a unit (`"500ms"`, `"2s"`,
//! `"10m"`, `"1h"`, `"1d"`), and an unknown field an error (a misspelt setting is not
//! silently ignored). The codec is code, not configuration: read the config, then call
//! [`RedisConfig::codec`] for another one.

use std::time::Duration;

use cache_core::codec::Postcard;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::config::{RedisConfig, RedisTopology, SentinelTopology, TlsCertificates};

/// The file's form of a [`RedisConfig`]: one of `url`, `cluster`, `sentinel`, and any of
/// the settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    url: Option<String>,
    cluster: Option<Vec<String>>,
    sentinel: Option<SentinelFile>,
    key_prefix: Option<String>,
    default_ttl: Option<Setting>,
    pool_size: Option<u32>,
    min_idle: Option<u32>,
    idle_timeout: Option<Setting>,
    max_lifetime: Option<Setting>,
    connect_timeout: Option<Setting>,
    read_timeout: Option<Setting>,
    write_timeout: Option<Setting>,
    pool_timeout: Option<Setting>,
    /// Sets connect, read and write timeouts at once (as [`RedisConfig::timeouts`]).
    timeouts: Option<Setting>,
    cluster_retries: Option<u32>,
    scan_count: Option<u32>,
    version: Option<u32>,
    compress_above: Option<usize>,
    max_value_bytes: Option<usize>,
    single_flight: Option<bool>,
    flight_lease: Option<Setting>,
    tls: Option<TlsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SentinelFile {
    nodes: Vec<String>,
    master_name: String,
    primary_username: Option<String>,
    primary_password: Option<String>,
    primary_db: Option<i64>,
}

/// Certificates as PEM text (a file's contents, not its path: reading a file is left to the
/// program, which knows where its secrets live).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    ca_cert_pem: Option<String>,
    client_cert_pem: Option<String>,
    client_key_pem: Option<String>,
}

/// A duration setting: text with a unit, or `"never"` where none is allowed.
struct Setting(Option<Duration>);

impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Setting)
            .map_err(de::Error::custom)
    }
}

/// `"never"`, or a whole number and a unit: `ms`, `s`, `m`, `h`, `d`.
fn parse_duration(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    if t == "never" {
        return Ok(None);
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (like \"500ms\", \"2s\", \"10m\")"))?;
    let per_unit = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "{text:?} has no unit: write ms, s, m, h or d after the number"
            ))
        }
    };
    n.checked_mul(per_unit)
        .map(|ms| Some(Duration::from_millis(ms)))
        .ok_or_else(|| format!("{text:?} is too long a duration"))
}

impl Setting {
    /// The duration, where `"never"` has no meaning.
    fn required<E: de::Error>(self, field: &str) -> Result<Duration, E> {
        self.0
            .ok_or_else(|| E::custom(format!("{field} cannot be \"never\"")))
    }
}

impl File {
    fn topology<E: de::Error>(&mut self) -> Result<RedisTopology, E> {
        match (self.url.take(), self.cluster.take(), self.sentinel.take()) {
            (Some(url), None, None) => Ok(RedisTopology::Standalone(url)),
            (None, Some(nodes), None) => Ok(RedisTopology::Cluster(nodes)),
            (None, None, Some(s)) => {
                let mut t = SentinelTopology::new(s.nodes, s.master_name);
                if let Some(password) = s.primary_password {
                    t = t.primary_login(s.primary_username.as_deref(), &password);
                }
                if let Some(db) = s.primary_db {
                    t = t.primary_db(db);
                }
                Ok(RedisTopology::Sentinel(t))
            }
            (None, None, None) => Err(E::custom(
                "the Redis config names no server: give url, cluster or sentinel",
            )),
            _ => Err(E::custom(
                "the Redis config names more than one of url, cluster and sentinel",
            )),
        }
    }
}

/// A [`RedisConfig`] from a configuration file: every field of the config (durations as
/// text with a unit: `"500ms"`, `"2s"`, `"10m"`; `"never"` for `default_ttl`,
/// `idle_timeout`, `max_lifetime`), one of `url`, `cluster` or `[sentinel]`, and `[tls]`
/// with PEM text. Fields left out keep [`RedisConfig::new`]'s defaults; an unknown field is
/// an error.
///
/// ```
/// use cache_redis::{RedisConfig, RedisTopology};
/// use std::time::Duration;
///
/// let config: RedisConfig = serde_json::from_str(r#"{
///     "url": "redis://127.0.0.1:6379/0",
///     "key_prefix": "sessions:",
///     "default_ttl": "10m",
///     "pool_size": 8,
///     "timeouts": "250ms"
/// }"#)?;
/// assert!(matches!(config.topology, RedisTopology::Standalone(ref u) if u == "redis://127.0.0.1:6379/0"));
/// assert_eq!(config.key_prefix, "sessions:");
/// assert_eq!(config.default_ttl, Some(Duration::from_secs(600)));
/// assert_eq!((config.pool_size, config.read_timeout), (8, Duration::from_millis(250)));
///
/// let sentinel: RedisConfig = serde_json::from_str(r#"{
///     "sentinel": { "nodes": ["redis://10.0.0.1:26379"], "master_name": "cache", "primary_db": 2 },
///     "idle_timeout": "never"
/// }"#)?;
/// assert!(matches!(sentinel.topology, RedisTopology::Sentinel(ref s) if s.primary_db == 2));
/// assert_eq!(sentinel.idle_timeout, None);
///
/// let typo = serde_json::from_str::<RedisConfig>(r#"{ "url": "redis://h/", "pool_szie": 8 }"#);
/// assert!(typo.unwrap_err().to_string().contains("pool_szie"));
/// let unitless = serde_json::from_str::<RedisConfig>(r#"{ "url": "redis://h/", "timeouts": "5" }"#);
/// assert!(unitless.unwrap_err().to_string().contains("unit"));
/// # Ok::<(), serde_json::Error>(())
/// ```
impl<'de> Deserialize<'de> for RedisConfig<Postcard> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut f = File::deserialize(d)?;
        let mut c = RedisConfig::from_topology(f.topology()?);
        if let Some(v) = f.key_prefix {
            c.key_prefix = v;
        }
        if let Some(v) = f.default_ttl {
            c.default_ttl = v.0;
        }
        if let Some(v) = f.pool_size {
            c.pool_size = v;
        }
        if let Some(v) = f.min_idle {
            c.min_idle = Some(v);
        }
        if let Some(v) = f.idle_timeout {
            c.idle_timeout = v.0;
        }
        if let Some(v) = f.max_lifetime {
            c.max_lifetime = v.0;
        }
        if let Some(v) = f.timeouts {
            c = c.timeouts(v.required("timeouts")?);
        }
        for (setting, field, name) in [
            (f.connect_timeout, &mut c.connect_timeout, "connect_timeout"),
            (f.read_timeout, &mut c.read_timeout, "read_timeout"),
            (f.write_timeout, &mut c.write_timeout, "write_timeout"),
            (f.pool_timeout, &mut c.pool_timeout, "pool_timeout"),
            (f.flight_lease, &mut c.flight_lease, "flight_lease"),
        ] {
            if let Some(v) = setting {
                *field = v.required(name)?;
            }
        }
        if let Some(v) = f.cluster_retries {
            c.cluster_retries = v;
        }
        if let Some(v) = f.scan_count {
            c.scan_count = v;
        }
        if let Some(v) = f.version {
            c.version = v;
        }
        if let Some(v) = f.compress_above {
            c.compress_above = Some(v);
        }
        if let Some(v) = f.max_value_bytes {
            c.max_value_bytes = v;
        }
        if let Some(v) = f.single_flight {
            c.single_flight = v;
        }
        if let Some(t) = f.tls {
            let mut tls = TlsCertificates::default();
            if let Some(ca) = t.ca_cert_pem {
                tls = tls.ca_cert(ca.into_bytes());
            }
            match (t.client_cert_pem, t.client_key_pem) {
                (Some(cert), Some(key)) => {
                    tls = tls.client_cert(cert.into_bytes(), key.into_bytes());
                }
                (None, None) => {}
                _ => {
                    return Err(de::Error::custom(
                        "tls needs client_cert_pem and client_key_pem together",
                    ))
                }
            }
            c.tls = tls;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_may_be_never() {
        assert_eq!(
            parse_duration("500ms"),
            Ok(Some(Duration::from_millis(500)))
        );
        assert_eq!(parse_duration(" 2s "), Ok(Some(Duration::from_secs(2))));
        assert_eq!(parse_duration("10m"), Ok(Some(Duration::from_secs(600))));
        assert_eq!(parse_duration("1d"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(parse_duration("never"), Ok(None));
        assert!(parse_duration("5").unwrap_err().contains("unit"));
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
