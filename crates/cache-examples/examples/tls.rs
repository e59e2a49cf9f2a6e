//! The Redis cache over TLS, trusting a CA of your own and presenting a client certificate
//! (mutual TLS): `REDIS_TLS_URL=rediss://127.0.0.1:6380 REDIS_CA_CERT=ca.pem
//! REDIS_CLIENT_CERT=client.pem REDIS_CLIENT_KEY=client.key cargo run -p cache-examples
//! --example tls` (the two client variables are optional: without them, server TLS only).

mod shared;

use cache::{RedisCache, RedisConfig, TlsCertificates};

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))
}

fn main() -> std::process::ExitCode {
    shared::main_of(|| {
        let how = "REDIS_TLS_URL=rediss://127.0.0.1:6380 REDIS_CA_CERT=ca.pem \
                   [REDIS_CLIENT_CERT=client.pem REDIS_CLIENT_KEY=client.key] \
                   cargo run -p cache-examples --example tls";
        let url = shared::env("REDIS_TLS_URL", how)?;
        let mut tls =
            TlsCertificates::default().ca_cert(read(&shared::env("REDIS_CA_CERT", how)?)?);
        if let (Ok(cert), Ok(key)) = (
            std::env::var("REDIS_CLIENT_CERT"),
            std::env::var("REDIS_CLIENT_KEY"),
        ) {
            tls = tls.client_cert(read(&cert)?, read(&key)?);
        }
        let config = RedisConfig::new(url)
            .tls(tls)
            .key_prefix(shared::prefix("tls"));
        RedisCache::new(config).map_err(|e| format!("no TLS server answered: {e:#}"))
    })
}
