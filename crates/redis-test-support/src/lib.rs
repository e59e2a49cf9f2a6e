//! Real `redis-server` processes for the tests and benchmarks of the Redis backend: a
//! standalone [`RedisServer`], a [`RedisCluster`] of primaries, and the faults the tests inject
//! (kill, restart on the same port, SIGSTOP/SIGCONT).
//!
//! Every server listens on a free loopback port, keeps its files in a fresh temporary
//! directory, persists nothing (`--save "" --appendonly no`), and is killed when its handle is
//! dropped. A handle kept in a `static` is never dropped, so each server also gets a watchdog
//! (`sh`, reading a pipe from this process) that kills it when the test process exits, however
//! it exits.
//!
//! When `redis-server` or `redis-cli` is not on `PATH`, starting a server panics with the
//! command that installs them: tests never skip silently.
//!
//! Also: servers that serve TLS ([`RedisServer::start_tls`], [`RedisCluster::start_tls`])
//! with certificates generated in-process ([`TestCertificates`], with `rcgen`), clusters with
//! replicas ([`RedisCluster::start_with_replicas`], [`RedisCluster::wait_failover`]), and a
//! primary with replicas and sentinels ([`SentinelGroup`]), and a proxy that loses replies or
//! resets connections ([`FaultProxy`]).
//!
//! # Why not the `redis-test` crate
//! The redis-rs project's `redis-test` crate also starts servers, TLS servers, clusters and
//! sentinel groups. It was considered and not taken, because for these tests it would do
//! less, or do it worse:
//! - its certificates are made by running the `openssl` command (one more binary on every
//!   machine, and 4096-bit RSA keys that take seconds); here `rcgen` makes them in-process
//!   in milliseconds;
//! - whether its servers speak TLS is chosen by a process-wide environment variable
//!   (`REDISRS_SERVER_TYPE`), not per test, and one binary here needs both kinds at once;
//! - its processes are killed only on drop, so a server kept in a `static` (the shared
//!   server and cluster here) would outlive the test binary; the watchdog here does not;
//! - it has none of the faults the tests need (freeze/thaw with SIGSTOP/SIGCONT, kill, and
//!   restart on the same port and directory), nor `node_of_key` or the waits for a
//!   failover, which would have stayed here anyway;
//! - it would tie this crate to its release cadence against the `redis` crate's versions.
//!
//! What it would have saved is about 300 lines (sentinel and TLS start-up); keeping one
//! process manager for every topology, with one watchdog and one fault interface, costs less.
//!
//! ```no_run
//! use redis_test_support::RedisServer;
//!
//! let server = RedisServer::start();
//! assert_eq!(server.query(&["PING"])?.text(), "PONG");
//! server.freeze(); // SIGSTOP: the server accepts connections but answers nothing
//! server.thaw();
//! server.kill();
//! server.restart(); // same port, same directory
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod glob;
mod proxy;
mod resp;
mod sentinel;
mod tls;

use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub use proxy::FaultProxy;
pub use resp::Reply;
pub use sentinel::SentinelGroup;
pub use tls::TestCertificates;

/// What to do when the Redis binaries are missing.
const MISSING: &str = "redis-server and redis-cli must be on PATH for these tests: run \
    `cargo xtask test` as root (it installs them), or `apt-get install -y redis-server`";

/// Cluster nodes listen on `port + 10000` for the cluster bus, which must stay a valid port.
const MAX_CLUSTER_PORT: u16 = 55_535;

/// How long a server may take to answer its first PING, or a cluster to become healthy.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the helpers wait for one answer of a running server.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A key prefix no other caller in this process gets: `"{tag}:{pid}:{n}:"`. Caches built on
/// a shared server use one each, so that they are independent.
///
/// ```
/// let a = redis_test_support::unique_prefix("t");
/// let b = redis_test_support::unique_prefix("t");
/// assert_ne!(a, b);
/// assert!(a.starts_with("t:") && a.ends_with(':'));
/// ```
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{tag}:{}:{n}:", std::process::id())
}

/// One standalone server for the whole test binary, started on first use.
///
/// ```no_run
/// let url = redis_test_support::shared_server().url();
/// ```
pub fn shared_server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

/// One 3-primary cluster for the whole test binary, started on first use.
///
/// ```no_run
/// let urls = redis_test_support::shared_cluster().urls();
/// assert_eq!(urls.len(), 3);
/// ```
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| RedisCluster::start(3))
}

/// A running `redis-server` process with its watchdog.
struct Process {
    server: Child,
    watchdog: Child,
    /// Held only to be closed: the watchdog acts when this pipe closes.
    _watchdog_pipe: ChildStdin,
}

impl Process {
    fn spawn(args: &[String], dir: &Path) -> Process {
        let server = match Command::new("redis-server")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{MISSING}"),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        // `read` returns at end of input, that is when this process exits and the pipe's
        // write end closes; then the server goes too, and the directory of a server kept in
        // a static with it.
        let mut watchdog = Command::new("sh")
            .args([
                "-c",
                r#"read _; kill -9 "$1" 2>/dev/null; rm -rf "$2""#,
                "redis-watchdog",
            ])
            .arg(server.id().to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start the watchdog shell");
        let pipe = watchdog.stdin.take().expect("a piped stdin");
        Process {
            server,
            watchdog,
            _watchdog_pipe: pipe,
        }
    }

    fn stop(mut self) {
        // The watchdog first, so that it cannot act on a reused pid or a kept directory.
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.server.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill {signal} failed: {status}");
    }
}

/// A `redis-server` on a free loopback port, killed (with its directory removed) on drop.
///
/// ```no_run
/// let server = redis_test_support::RedisServer::start();
/// println!("listening at {}", server.url());
/// ```
pub struct RedisServer {
    port: u16,
    tls_port: Option<u16>,
    args: Vec<String>,
    dir: tempfile::TempDir,
    process: Mutex<Option<Process>>,
}

impl RedisServer {
    /// Starts a standalone server and waits until it answers PING.
    ///
    /// # Panics
    /// When `redis-server` is not on `PATH`, or no server could be started.
    pub fn start() -> RedisServer {
        Self::start_with(&[], false)
    }

    /// Starts a server that also serves TLS (on [`RedisServer::tls_port`]) with the server
    /// certificate of `certificates`; with `mutual`, TLS clients must present a certificate
    /// signed by its CA. The plain port stays open for the helpers ([`RedisServer::query`]).
    ///
    /// ```no_run
    /// use redis_test_support::{RedisServer, TestCertificates};
    /// let certs = TestCertificates::generate();
    /// let server = RedisServer::start_tls(&certs, true);
    /// assert!(server.tls_url().starts_with("rediss://127.0.0.1:"));
    /// ```
    pub fn start_tls(certificates: &TestCertificates, mutual: bool) -> RedisServer {
        Self::start_full(&Options {
            tls: Some((certificates, mutual)),
            ..Options::default()
        })
    }

    /// Starts a server with extra arguments; `cluster_port` keeps the port at most 55535 with
    /// `port + 10000` free too.
    pub(crate) fn start_with(extra: &[&str], cluster_port: bool) -> RedisServer {
        Self::start_full(&Options {
            extra: extra.iter().map(|s| s.to_string()).collect(),
            cluster_port,
            ..Options::default()
        })
    }

    pub(crate) fn start_full(options: &Options<'_>) -> RedisServer {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port(options.cluster_port);
            let dir = tempfile::Builder::new()
                .prefix("redis-test-")
                .tempdir()
                .expect("cannot create a temporary directory");
            let mut args = Vec::new();
            if let Some(config) = &options.config_file {
                let path = dir.path().join("redis.conf");
                std::fs::write(&path, config).expect("cannot write a configuration file");
                args.push(path.display().to_string());
            }
            args.extend(
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            args.push(dir.path().display().to_string());
            args.push("--logfile".into());
            args.push(log_path(dir.path()).display().to_string());
            args.extend(options.extra.iter().cloned());
            let tls_port = options.tls.map(|(certificates, mutual)| {
                // With `tls-cluster yes` the cluster bus is on `tls_port + 10000`.
                let tls_port = free_port(options.cluster_port);
                args.extend(certificates.server_args(tls_port, mutual));
                tls_port
            });
            let server = RedisServer {
                port,
                tls_port,
                args,
                dir,
                process: Mutex::new(None),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                // Most likely another process took the port in the meantime: try another.
                Err(e) => last_error = e,
            }
        }
        panic!("cannot start redis-server: {last_error}");
    }

    fn lock(&self) -> MutexGuard<'_, Option<Process>> {
        self.process.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn_and_wait(&self) -> Result<(), String> {
        let mut guard = self.lock();
        if let Some(old) = guard.take() {
            old.stop();
        }
        let mut process = Process::spawn(&self.args, self.dir.path());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = process.server.try_wait() {
                let log = std::fs::read_to_string(log_path(self.dir.path())).unwrap_or_default();
                process.stop();
                return Err(format!(
                    "redis-server on port {} exited ({status}); its log:\n{log}",
                    self.port
                ));
            }
            if let Ok(Reply::Simple(pong)) =
                resp::command(self.port, &["PING"], Duration::from_millis(500))
            {
                if pong == "PONG" {
                    *guard = Some(process);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                process.stop();
                return Err(format!("redis-server on port {} never answered", self.port));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The TCP port, on 127.0.0.1.
    ///
    /// ```no_run
    /// assert!(redis_test_support::RedisServer::start().port() > 0);
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port, for a server started with [`RedisServer::start_tls`].
    ///
    /// ```no_run
    /// assert_eq!(redis_test_support::RedisServer::start().tls_port(), None);
    /// ```
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `rediss://127.0.0.1:tls_port/`.
    ///
    /// # Panics
    /// When the server was not started with TLS.
    ///
    /// ```no_run
    /// let certs = redis_test_support::TestCertificates::generate();
    /// let url = redis_test_support::RedisServer::start_tls(&certs, false).tls_url();
    /// ```
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("a server started with start_tls");
        format!("rediss://127.0.0.1:{port}/")
    }

    /// `127.0.0.1:port`.
    ///
    /// ```no_run
    /// assert!(redis_test_support::RedisServer::start().addr().starts_with("127.0.0.1:"));
    /// ```
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:port/`.
    ///
    /// ```no_run
    /// assert!(redis_test_support::RedisServer::start().url().starts_with("redis://"));
    /// ```
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The directory the server keeps its files (and its `redis.log`) in.
    ///
    /// ```no_run
    /// assert!(redis_test_support::RedisServer::start().dir().is_dir());
    /// ```
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the running server, if it runs.
    ///
    /// ```no_run
    /// assert!(redis_test_support::RedisServer::start().pid().is_some());
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.lock().as_ref().map(|p| p.server.id())
    }

    /// Sends one command on a new connection and returns the reply, or the I/O error, which
    /// names the command and the server: a stopped or frozen server gives one within a few
    /// seconds, a demoted or restarting one may reset the connection. Callers that wait for
    /// a recovery retry on it; callers that need the reply `expect` it.
    ///
    /// ```no_run
    /// let s = redis_test_support::RedisServer::start();
    /// assert_eq!(s.query(&["DBSIZE"]).expect("a reply").int(), Some(0));
    /// s.kill();
    /// assert!(s.query(&["PING"]).is_err());
    /// ```
    pub fn query<A: AsRef<[u8]>>(&self, args: &[A]) -> io::Result<Reply> {
        resp::command(self.port, args, QUERY_TIMEOUT).map_err(|e| {
            let name = args
                .first()
                .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
                .unwrap_or_default();
            io::Error::new(e.kind(), format!("{name} on {}: {e}", self.addr()))
        })
    }

    /// Kills the server (SIGKILL) and waits for it to exit; its port and directory stay.
    ///
    /// ```no_run
    /// let s = redis_test_support::RedisServer::start();
    /// s.kill();
    /// assert!(s.pid().is_none());
    /// ```
    pub fn kill(&self) {
        if let Some(p) = self.lock().take() {
            p.stop();
        }
    }

    /// Starts the server again on the same port with the same directory (killing it first if
    /// it runs), and waits until it answers.
    ///
    /// # Panics
    /// When it does not come back.
    ///
    /// ```no_run
    /// let s = redis_test_support::RedisServer::start();
    /// s.kill();
    /// s.restart();
    /// assert_eq!(s.query(&["PING"]).expect("a reply").text(), "PONG");
    /// ```
    pub fn restart(&self) {
        if let Err(e) = self.spawn_and_wait() {
            panic!("cannot restart redis-server: {e}");
        }
    }

    /// Freezes the server with SIGSTOP: connections are still accepted by the kernel, but
    /// nothing is answered until [`RedisServer::thaw`].
    ///
    /// ```no_run
    /// let s = redis_test_support::RedisServer::start();
    /// s.freeze();
    /// assert!(s.query(&["PING"]).is_err());
    /// s.thaw();
    /// ```
    pub fn freeze(&self) {
        if let Some(p) = self.lock().as_ref() {
            p.signal("-STOP");
        }
    }

    /// Resumes a frozen server with SIGCONT.
    ///
    /// ```no_run
    /// let s = redis_test_support::RedisServer::start();
    /// s.freeze();
    /// s.thaw();
    /// assert_eq!(s.query(&["PING"]).expect("a reply").text(), "PONG");
    /// ```
    pub fn thaw(&self) {
        if let Some(p) = self.lock().as_ref() {
            p.signal("-CONT");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How to start a server.
#[derive(Default)]
pub(crate) struct Options<'a> {
    /// Arguments after the defaults.
    pub(crate) extra: Vec<String>,
    /// A port that leaves `port + 10000` free for the cluster bus.
    pub(crate) cluster_port: bool,
    /// The contents of a configuration file given first (a sentinel needs one it can write).
    pub(crate) config_file: Option<String>,
    /// TLS with these certificates; `true`: mutual.
    pub(crate) tls: Option<(&'a TestCertificates, bool)>,
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("redis.log")
}

/// A free loopback port; for cluster nodes one of at most 55535 whose bus port is free too.
fn free_port(cluster: bool) -> u16 {
    let bindable = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
    for _ in 0..1000 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("cannot bind a loopback port")
            .port();
        if !cluster || (port <= MAX_CLUSTER_PORT && bindable(port + 10_000)) {
            return port;
        }
    }
    panic!("no free loopback port found");
}

/// A Redis Cluster of primaries without replicas, each a [`RedisServer`] with
/// `cluster-enabled yes`. Nodes keep serving their own slots while another one is down
/// (`cluster-require-full-coverage no`).
///
/// ```no_run
/// let cluster = redis_test_support::RedisCluster::start(3);
/// let node = cluster.node_of_key(b"user:1");
/// cluster.nodes()[node].kill();
/// ```
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `primaries` nodes (at least 3), joins them with `redis-cli --cluster create`,
    /// and waits until every node reports `cluster_state:ok`.
    ///
    /// # Panics
    /// When the binaries are missing or the cluster does not form.
    pub fn start(primaries: usize) -> RedisCluster {
        Self::start_with_replicas(primaries, 0)
    }

    /// Starts `primaries` primaries (at least 3) with `replicas` replicas each; a replica
    /// takes over when its primary has not answered for 2 s (`cluster-node-timeout`).
    ///
    /// # Panics
    /// When the binaries are missing or the cluster does not form.
    ///
    /// ```no_run
    /// let cluster = redis_test_support::RedisCluster::start_with_replicas(3, 1);
    /// assert_eq!(cluster.nodes().len(), 6);
    /// ```
    pub fn start_with_replicas(primaries: usize, replicas: usize) -> RedisCluster {
        Self::start_full(primaries, replicas, None)
    }

    /// Starts `primaries` primaries (at least 3) that also serve TLS with the server
    /// certificate of `certificates`, to clients ([`RedisCluster::tls_urls`]) and between
    /// themselves (`tls-cluster yes`), so that `CLUSTER SLOTS` over TLS names TLS ports.
    ///
    /// ```no_run
    /// let certs = redis_test_support::TestCertificates::generate();
    /// let cluster = redis_test_support::RedisCluster::start_tls(3, &certs);
    /// assert!(cluster.tls_urls()[0].starts_with("rediss://"));
    /// ```
    pub fn start_tls(primaries: usize, certificates: &TestCertificates) -> RedisCluster {
        Self::start_full(primaries, 0, Some(certificates))
    }

    fn start_full(
        primaries: usize,
        replicas: usize,
        tls: Option<&TestCertificates>,
    ) -> RedisCluster {
        assert!(primaries >= 3, "a Redis cluster needs at least 3 primaries");
        let mut extra: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            "--cluster-require-full-coverage",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if tls.is_some() {
            extra.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
        }
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| {
                RedisServer::start_full(&Options {
                    extra: extra.clone(),
                    cluster_port: true,
                    tls: tls.map(|c| (c, false)),
                    ..Options::default()
                })
            })
            .collect();
        let mut create = Command::new("redis-cli");
        if let Some(certificates) = tls {
            // Over TLS, so that the nodes' addresses it compares are their TLS ones.
            create
                .arg("--tls")
                .arg("--cacert")
                .arg(certificates.dir().join("ca.crt"));
        }
        create.arg("--cluster").arg("create");
        for n in &nodes {
            match n.tls_port {
                Some(port) => create.arg(format!("127.0.0.1:{port}")),
                None => create.arg(n.addr()),
            };
        }
        create.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let output_dir = tempfile::tempdir().expect("a temporary directory");
        let out_path = output_dir.path().join("out");
        let out = std::fs::File::create(&out_path).expect("cannot create a file");
        let mut child = match create
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("a file handle"))
            .stderr(out)
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{MISSING}"),
            Err(e) => panic!("cannot run redis-cli: {e}"),
        };
        // It waits for the nodes to agree forever if they cannot talk to each other.
        let deadline = Instant::now() + READY_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("cannot wait for redis-cli") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !status.is_some_and(|s| s.success()) {
            let output = std::fs::read_to_string(&out_path).unwrap_or_default();
            let _ = io::stderr().write_all(output.as_bytes());
            panic!("redis-cli --cluster create failed ({status:?})");
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_healthy();
        cluster
    }

    /// The nodes, in the order their slots were assigned.
    ///
    /// ```no_run
    /// assert_eq!(redis_test_support::RedisCluster::start(3).nodes().len(), 3);
    /// ```
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes' URLs, to build a cluster client from.
    ///
    /// ```no_run
    /// let urls = redis_test_support::RedisCluster::start(3).urls();
    /// ```
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes' `rediss://` URLs, for a cluster started with [`RedisCluster::start_tls`].
    ///
    /// ```no_run
    /// let certs = redis_test_support::TestCertificates::generate();
    /// let urls = redis_test_support::RedisCluster::start_tls(3, &certs).tls_urls();
    /// ```
    pub fn tls_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::tls_url).collect()
    }

    /// Waits until every running node reports `cluster_state:ok` and knows every node, and
    /// every replica is in sync with its primary; for example after a node was restarted.
    ///
    /// # Panics
    /// When that takes longer than 20 s.
    ///
    /// ```no_run
    /// let c = redis_test_support::RedisCluster::start(3);
    /// c.nodes()[0].kill();
    /// c.nodes()[0].restart();
    /// c.wait_healthy();
    /// ```
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let want_nodes = format!("cluster_known_nodes:{}", self.nodes.len());
        loop {
            let healthy = self.nodes.iter().all(|n| {
                n.query(&["CLUSTER", "INFO"]).is_ok_and(|r| {
                    let info = r.text();
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && info.contains(&want_nodes)
                }) && n.query(&["INFO", "replication"]).is_ok_and(|r| {
                    // A replica must be in sync, or it would refuse to take over (its data
                    // would count as too old).
                    let info = r.text();
                    info.contains("role:master") || info.contains("master_link_status:up")
                })
            });
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not become healthy within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running node reports `cluster_state:ok` with every slot served by
    /// a running node: after a primary was killed, until its replica was promoted.
    ///
    /// # Panics
    /// When that takes longer than 30 s.
    ///
    /// ```no_run
    /// let c = redis_test_support::RedisCluster::start_with_replicas(3, 1);
    /// let primary = c.node_of_key(b"k");
    /// c.nodes()[primary].kill();
    /// c.wait_failover();
    /// assert_ne!(c.node_of_key(b"k"), primary);
    /// ```
    pub fn wait_failover(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let running: Vec<&RedisServer> = self.nodes.iter().filter(|n| n.pid().is_some()).collect();
        let down: Vec<i64> = self
            .nodes
            .iter()
            .filter(|n| n.pid().is_none())
            .flat_map(|n| [Some(n.port), n.tls_port])
            .flatten()
            .map(i64::from)
            .collect();
        loop {
            let settled = running.iter().all(|n| {
                let ok = n.query(&["CLUSTER", "INFO"]).is_ok_and(|r| {
                    let info = r.text();
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                });
                ok && n.query(&["CLUSTER", "SLOTS"]).is_ok_and(|slots| {
                    slots.items().iter().all(|range| {
                        range.items()[2].items()[1]
                            .int()
                            .is_some_and(|port| !down.contains(&port))
                    })
                })
            });
            if settled {
                return;
            }
            if Instant::now() > deadline {
                let nodes = running
                    .first()
                    .and_then(|n| n.query(&["CLUSTER", "NODES"]).ok())
                    .map(|r| r.text())
                    .unwrap_or_default();
                panic!("no replica took over within 30 s; CLUSTER NODES:\n{nodes}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The index in [`RedisCluster::nodes`] of the node that serves `key`, asked of the first
    /// node that answers.
    ///
    /// # Panics
    /// When no node answers.
    ///
    /// ```no_run
    /// let c = redis_test_support::RedisCluster::start(3);
    /// assert!(c.node_of_key(b"k") < 3);
    /// ```
    pub fn node_of_key(&self, key: &[u8]) -> usize {
        for n in &self.nodes {
            let Ok(slot) = n.query(&[&b"CLUSTER"[..], b"KEYSLOT", key]) else {
                continue;
            };
            let Ok(slots) = n.query(&["CLUSTER", "SLOTS"]) else {
                continue;
            };
            let slot = slot.int().expect("CLUSTER KEYSLOT answers an integer");
            for range in slots.items() {
                let r = range.items();
                let (Some(lo), Some(hi)) = (r[0].int(), r[1].int()) else {
                    continue;
                };
                if (lo..=hi).contains(&slot) {
                    let port = r[2].items()[1].int().expect("a port");
                    return self
                        .nodes
                        .iter()
                        .position(|n| {
                            i64::from(n.port) == port || n.tls_port.map(i64::from) == Some(port)
                        })
                        .expect("a node of this cluster");
                }
            }
        }
        panic!("no cluster node answered");
    }
}

/// The cluster slot of `key` (CRC16 of the key, or of its `{hash tag}`, modulo 16384), as
/// Redis computes it; for tests that must reach every slot.
///
/// ```
/// assert_eq!(redis_test_support::key_slot(b"foo"), 12182);
/// assert_eq!(redis_test_support::key_slot(b"{user1000}.following"), redis_test_support::key_slot(b"user1000"));
/// ```
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16_xmodem(tagged) % 16384
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum of Redis Cluster.
fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Calls `op` every 100 ms until it succeeds and returns its value; panics with `what` and
/// the last error when `limit` passes first. For tests that wait for a recovery.
///
/// ```
/// use std::time::Duration;
/// let mut tries = 0;
/// let v = redis_test_support::succeeds_within(Duration::from_secs(5), "a flaky op", || {
///     tries += 1;
///     if tries < 3 { Err("not yet") } else { Ok(tries) }
/// });
/// assert_eq!(v, 3);
/// ```
#[track_caller]
pub fn succeeds_within<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    mut op: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match op() {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: still failing after {limit:?}: {e:#}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
