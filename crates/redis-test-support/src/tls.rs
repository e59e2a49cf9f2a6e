//! Certificates generated at test time (with `rcgen`): a CA, a server certificate for
//! `127.0.0.1` and `localhost` signed by it, and a client certificate for mutual TLS.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A fresh certificate authority with a server and a client certificate, as PEM bytes and
/// as files (for `redis-server --tls-*-file`), removed on drop.
///
/// ```no_run
/// let tls = redis_test_support::TestCertificates::generate();
/// assert!(tls.ca_pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
/// ```
pub struct TestCertificates {
    /// The CA's certificate.
    pub ca_pem: Vec<u8>,
    /// The client's certificate, signed by the CA.
    pub client_cert_pem: Vec<u8>,
    /// The client's private key.
    pub client_key_pem: Vec<u8>,
    dir: tempfile::TempDir,
}

impl TestCertificates {
    /// Generates a CA and, signed by it, a server certificate (`127.0.0.1`, `::1`,
    /// `localhost`) and a client certificate.
    ///
    /// # Panics
    /// When a key or certificate cannot be generated or written.
    pub fn generate() -> TestCertificates {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "redis-test-support CA");
        let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
        let issuer = Issuer::new(ca, ca_key);

        let leaf = |names: Vec<String>, usages: Vec<ExtendedKeyUsagePurpose>, cn: &str| {
            let key = KeyPair::generate().expect("a key");
            let mut params = CertificateParams::new(names).expect("certificate parameters");
            params.extended_key_usages = usages;
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params
                .signed_by(&key, &issuer)
                .expect("a signed certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "::1".into(), "localhost".into()],
            // Cluster nodes also present it to each other as clients, on the cluster bus.
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            "redis-server",
        );
        let (client_cert, client_key) = leaf(
            Vec::new(),
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            "cache client",
        );

        let dir = tempfile::Builder::new()
            .prefix("redis-tls-")
            .tempdir()
            .expect("a temporary directory");
        let write = |name: &str, pem: &str| {
            std::fs::write(dir.path().join(name), pem).expect("cannot write a certificate");
        };
        write("ca.crt", &ca_cert.pem());
        write("server.crt", &server_cert);
        write("server.key", &server_key);
        TestCertificates {
            ca_pem: ca_cert.pem().into_bytes(),
            client_cert_pem: client_cert.into_bytes(),
            client_key_pem: client_key.into_bytes(),
            dir,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory holding `ca.crt`, `server.crt` and `server.key`.
    ///
    /// ```no_run
    /// assert!(redis_test_support::TestCertificates::generate().dir().join("ca.crt").is_file());
    /// ```
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `redis-server` arguments that serve TLS on `tls_port` with these certificates;
    /// with `mutual`, clients must present a certificate signed by the CA.
    pub(crate) fn server_args(&self, tls_port: u16, mutual: bool) -> Vec<String> {
        let path = |name: &str| self.file(name).display().to_string();
        vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            path("server.crt"),
            "--tls-key-file".into(),
            path("server.key"),
            "--tls-ca-cert-file".into(),
            path("ca.crt"),
            "--tls-auth-clients".into(),
            if mutual { "yes" } else { "no" }.into(),
        ]
    }
}
