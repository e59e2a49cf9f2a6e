//! The metrics example (`examples/metrics.rs`) scraped by a real Prometheus: the service
//! listens on a loopback port, a `prometheus` process of this test's own (Debian's package;
//! `cargo xtask test` installs it when missing) scrapes it every second, and the test asks
//! Prometheus's HTTP API for the hit and miss counters of both tiers (equal to what the test
//! did) and a latency quantile from the histogram (finite, positive).
//!
//! The recorder is the process's global one: this test binary holds this one test.

#[path = "../examples/metrics.rs"]
#[allow(dead_code)] // Its `main` is the example's, not this test's.
mod example;

use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache::Cache;

/// How long Prometheus gets to start and to scrape (a bound on waiting, not a timing check).
const PATIENCE: Duration = Duration::from_secs(120);

/// A free loopback port (bound, then let go for the process that takes it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `prometheus` on `PATH`, or where Debian's package puts it.
fn prometheus_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|p| p.is_file())
    });
    let binary = on_path.unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
    assert!(
        binary.is_file(),
        "prometheus not found: this test needs Debian's `prometheus` package \
         (`cargo xtask test` installs it as root; or apt-get install -y prometheus)"
    );
    binary
}

/// A Prometheus process, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port, scraping `target` every second, its data
    /// and log in `dir`.
    fn start(dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: cache-example\n    scrape_interval: 1s\n    \
                 scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("writing the configuration");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).expect("the log file");
        let err = out.try_clone().expect("the log file");
        let child = Command::new(prometheus_binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting prometheus");
        Prometheus { child, port, log }
    }

    /// The log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The result of the instant query `promql`: `(timestamp, value)` of each series.
    fn query(&self, promql: &str) -> Result<Vec<(f64, String)>, String> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let body = http_get(self.port, &path)?;
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if json["status"] != "success" {
            return Err(body);
        }
        let series = json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(series
            .iter()
            .map(|s| {
                let ts = s["value"][0].as_f64().unwrap_or(f64::NAN);
                let v = s["value"][1].as_str().unwrap_or("").to_owned();
                (ts, v)
            })
            .collect())
    }

    /// Waits until Prometheus has scraped the target after `after` (seconds since the
    /// epoch), successfully; fails with its log if it does not within [`PATIENCE`].
    fn wait_for_scrape_after(&mut self, after: f64) {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < PATIENCE {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            match self.query("timestamp(up{job=\"cache-example\"} == 1)") {
                Ok(series)
                    if series
                        .iter()
                        .any(|(_, v)| v.parse::<f64>().is_ok_and(|t| t > after)) =>
                {
                    return
                }
                Ok(series) => last = format!("{series:?}"),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "no successful scrape after {after} within {PATIENCE:?} (last answer: {last}):\n{}",
            self.log()
        );
    }

    /// The one value of `promql`, as a number.
    fn number(&self, promql: &str) -> f64 {
        let series = self
            .query(promql)
            .unwrap_or_else(|e| panic!("{promql}: {e}"));
        assert_eq!(series.len(), 1, "{promql}: {series:?}");
        series[0]
            .1
            .parse()
            .unwrap_or_else(|e| panic!("{promql}: {:?}: {e}", series[0]))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A plain HTTP/1.1 GET on loopback: the body of a 200 answer.
fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{head}\n{body}"));
    }
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    Ok(if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    })
}

/// The body of a chunked answer.
fn dechunk(mut body: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body
            .split_once("\r\n")
            .ok_or_else(|| format!("a chunk without its size: {body:?}"))?;
        let size = usize::from_str_radix(size.trim(), 16).map_err(|e| format!("{size:?}: {e}"))?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| format!("a chunk cut short: {rest:?}"))?;
        out.push_str(chunk);
        body = rest.get(size + 2..).unwrap_or("");
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs_f64()
}

#[test]
fn prometheus_scrapes_the_counters_and_a_latency_quantile() {
    let redis = redis_test_support::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let handle = example::install_recorder().expect("the recorder");
    let prefix = redis_test_support::unique_prefix("metrics-example");
    let state = runtime
        .block_on(example::state(handle, &redis.url(), &prefix))
        .expect("the caches");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback listener");
    let port = listener.local_addr().expect("its address").port();
    runtime.spawn(axum::serve(listener, example::app(state.clone())).into_future());

    // Known traffic: user 1 misses both tiers, then hits memory twice; user 2 misses both
    // tiers, then hits memory once; user 1, dropped from memory, hits Redis.
    for path in ["/users/1", "/users/1", "/users/1", "/users/2", "/users/2"] {
        assert_eq!(
            http_get(port, path).as_deref(),
            Ok(&*format!("user {}", &path[7..]))
        );
    }
    assert!(state.local.delete("user:1").expect("a delete"));
    assert_eq!(http_get(port, "/users/1").as_deref(), Ok("user 1"));
    assert_eq!(state.lookups.load(std::sync::atomic::Ordering::Relaxed), 2);
    let done = now();
    // The service's own view, as it renders it.
    let text = http_get(port, "/metrics").expect("/metrics");
    assert!(
        text.contains("cache_operation_duration_seconds_bucket"),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut prometheus = Prometheus::start(dir.path(), &format!("127.0.0.1:{port}"));
    prometheus.wait_for_scrape_after(done);

    let local = "backend=\"memory\",cache=\"users-local\"";
    let shared = "backend=\"redis\",cache=\"users\"";
    let cases = [
        (format!("cache_hits_total{{{local}}}"), 3.0),
        (format!("cache_misses_total{{{local}}}"), 3.0),
        (format!("cache_sets_total{{{local}}}"), 3.0),
        (format!("cache_deletes_total{{{local}}}"), 1.0),
        (format!("cache_hits_total{{{shared}}}"), 1.0),
        (format!("cache_misses_total{{{shared}}}"), 2.0),
        (format!("cache_sets_total{{{shared}}}"), 2.0),
        (format!("cache_entries{{{local}}}"), 2.0),
    ];
    for (promql, want) in &cases {
        assert_eq!(prometheus.number(promql), *want, "{promql}");
    }
    // Six gets of the memory tier, three hits: the count of the histogram agrees.
    let count =
        "sum(cache_operation_duration_seconds_count{cache=\"users-local\",operation=\"get\"})";
    assert_eq!(prometheus.number(count), 6.0);
    for (tier, operation) in [("users-local", "get"), ("users", "get_or_load")] {
        let quantile = format!(
            "histogram_quantile(0.9, sum by (le) \
             (cache_operation_duration_seconds_bucket{{cache=\"{tier}\",operation=\"{operation}\"}}))"
        );
        let p90 = prometheus.number(&quantile);
        assert!(p90.is_finite() && p90 > 0.0, "{quantile} = {p90}");
    }
}
