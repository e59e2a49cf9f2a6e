//! Three real processes share one Redis (a server, then a 3-primary cluster), each with a
//! `TieredCache` over a `RedisCache` kept true by its invalidations (`build_invalidated`):
//! - after A's `set` returns and A signals B and C (through this parent), each sees the new
//!   value within [`SEEN_WITHIN`] (a generous deadline for what takes microseconds: the
//!   delays are printed);
//! - 30 s of mixed writes from all three (values carry the writer's id and its sequence
//!   number): no process ever reads a value of a writer older than one it read or wrote
//!   before for that key, nor older than one it saw in Redis itself more than a second
//!   before (keys only their owner writes make a stale near copy last until an
//!   invalidation), and each sees the others' writes;
//! - after `CLIENT KILL` of the listeners, a Redis restart, and a Sentinel failover (the
//!   listeners kept from coming back, by `maxclients` or an ACL denying `CLIENT TRACKING`,
//!   for as long as the test needs), a read after another process's write never returns the
//!   near copy from before. Each of these three failed with the near tier's flush on the
//!   loss disabled (checked by hand); the 30 s run failed with invalidations ignored.
//!
//! The children are this test binary, re-invoked to run the `child` test, which reads
//! commands on its stdin and answers on its stdout (lines starting with `@@ `).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child as Process, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::{CacheExt, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use cache_tiered::TieredCache;
use redis_test_support::{unique_prefix, RedisCluster, RedisServer, SentinelGroup};

const URLS_VAR: &str = "NEAR_REDIS_CHILD_URLS";
const TOPOLOGY_VAR: &str = "NEAR_REDIS_CHILD_TOPOLOGY";
const PREFIX_VAR: &str = "NEAR_REDIS_CHILD_PREFIX";
const ID_VAR: &str = "NEAR_REDIS_CHILD_ID";

/// How long a process may take to see another's write (it normally takes microseconds).
const SEEN_WITHIN: Duration = Duration::from_secs(5);
/// How long the parent waits for a child's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);
const PROCESSES: usize = 3;
const KEYS: usize = 8;

/// A value: who wrote it, and its number in that writer's sequence.
type Value = (u32, u64);

type Tiered = TieredCache<Value, RedisCache>;

// ---------------------------------------------------------------- the child's part

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@@ {line}");
    let _ = out.flush();
}

fn show(v: Option<Value>) -> String {
    match v {
        Some((w, n)) => format!("{w} {n}"),
        None => "none".to_owned(),
    }
}

/// Retries `op` for up to 10 s (a write right after a restart may meet a stale connection).
fn retried<T>(mut op: impl FnMut() -> Result<T, cache_core::CacheError>) -> Result<T, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(format!("{e:#}")),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The newest sequence number this process has read or written, per key and per writer;
/// and, per key and writer, what a read of Redis itself (a probe) showed more than
/// [`GRACE`] ago: a read through the near tier must not return less.
struct Seen {
    read: [[AtomicU64; PROCESSES]; ALL_KEYS],
    /// Per key and writer: the newest number a probe showed more than `GRACE` ago
    /// (`settled`), and the oldest probe not yet that old (`pending`, with its time).
    probed: Mutex<[[Probed; PROCESSES]; ALL_KEYS]>,
}

/// The newest number settled, and the oldest pending probe with its time.
type Probed = (u64, Option<(Instant, u64)>);

/// How long another process's write may take to reach this one (the invalidation delay,
/// normally microseconds: a generous bound).
const GRACE: Duration = Duration::from_secs(1);
/// Keys every process writes, then keys only their owner (`k % PROCESSES`) writes (so that
/// a near copy of another's value is replaced by nothing but an invalidation).
const MIXED_KEYS: usize = KEYS;
const SOLO_KEYS: usize = 6;
const ALL_KEYS: usize = MIXED_KEYS + SOLO_KEYS;

impl Seen {
    fn new() -> Self {
        Seen {
            read: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            probed: Mutex::new([[(0, None); PROCESSES]; ALL_KEYS]),
        }
    }

    /// What a read of key `k` starting now must not go below, per writer.
    fn floor(&self, k: usize) -> [u64; PROCESSES] {
        let now = Instant::now();
        let mut probed = self.probed.lock().unwrap();
        std::array::from_fn(|w| {
            let (settled, pending) = &mut probed[k][w];
            if let Some((at, n)) = *pending {
                if at + GRACE <= now {
                    *settled = (*settled).max(n);
                    *pending = None;
                }
            }
            self.read[k][w].load(Ordering::SeqCst).max(*settled)
        })
    }

    /// A probe of Redis itself showed `v` for key `k`.
    fn probe(&self, k: usize, v: Option<Value>) {
        let Some((w, n)) = v else { return };
        let mut probed = self.probed.lock().unwrap();
        let Some((_, slot)) = probed[k].get_mut(w as usize) else {
            return;
        };
        // The oldest pending probe is kept: its time is the one that counts.
        if slot.is_none() {
            *slot = Some((Instant::now(), n));
        }
    }

    /// A read of key `k` that began when the floors were `floor` returned `v`.
    fn check(&self, k: usize, floor: &[u64; PROCESSES], v: Option<Value>) -> Result<(), String> {
        let Some((w, n)) = v else {
            return Ok(());
        };
        let w = w as usize;
        if w >= PROCESSES {
            return Err(format!(
                "key {k}: a value of writer {w}, who does not exist"
            ));
        }
        if n < floor[w] {
            return Err(format!(
                "key {k}: read writer {w}'s #{n} after #{} had been read, written, or \
                 seen in Redis more than {GRACE:?} before",
                floor[w]
            ));
        }
        self.read[k][w].fetch_max(n, Ordering::SeqCst);
        Ok(())
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Mixed reads and writes on 2 threads for `secs`: (reads, reads of others' values), or
/// the first read that went back in time. Keys `m0..m7` are written by every process,
/// keys `s0..s5` by their owner only; 2% of the operations read Redis itself (a probe).
fn mixed(cache: &Arc<Tiered>, id: u32, secs: u64) -> Result<(u64, u64), String> {
    let seen = Arc::new(Seen::new());
    // This writer's sequence: a number is taken and written under the lock, so that its
    // numbers reach Redis in order.
    let next = Arc::new(Mutex::new(1_000_000u64));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let (cache, seen, next, stop) = (
                Arc::clone(cache),
                Arc::clone(&seen),
                Arc::clone(&next),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || -> Result<(u64, u64), String> {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (u64::from(id) << 8) ^ t);
                let (mut reads, mut theirs) = (0u64, 0u64);
                let fail = |e: cache_core::CacheError| format!("{e:#}");
                while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                    let r = rng.next();
                    let k = (r % ALL_KEYS as u64) as usize;
                    let (key, writable) = if k < MIXED_KEYS {
                        (format!("m{k}"), true)
                    } else {
                        let s = k - MIXED_KEYS;
                        (format!("s{s}"), s % PROCESSES == id as usize)
                    };
                    let op = (r >> 8) % 100;
                    if op < 2 {
                        let far =
                            cache_core::Cache::<Value>::get(cache.far(), &key).map_err(fail)?;
                        seen.probe(k, far);
                        continue;
                    }
                    let floor = seen.floor(k);
                    let got = match op {
                        80..=94 if writable => {
                            let mut next = next.lock().unwrap();
                            *next += 1;
                            let n = *next;
                            cache.set(&key, (id, n), Ttl::Never).map_err(fail)?;
                            seen.read[k][id as usize].fetch_max(n, Ordering::SeqCst);
                            continue;
                        }
                        95..=96 if writable && k < MIXED_KEYS => {
                            cache.delete(&key).map_err(fail)?;
                            continue;
                        }
                        97..=99 if writable => {
                            let mut next = next.lock().unwrap();
                            *next += 1;
                            let n = *next;
                            Some(
                                cache
                                    .get_or_insert_with(&key, Ttl::Never, || (id, n))
                                    .map_err(fail)?,
                            )
                        }
                        _ => cache.get(&key).map_err(fail)?,
                    };
                    reads += 1;
                    if let Some((w, _)) = got {
                        theirs += u64::from(w != id);
                    }
                    if let Err(e) = seen.check(k, &floor, got) {
                        stop.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
                Ok((reads, theirs))
            })
        })
        .collect();
    let mut total = (0, 0);
    for t in threads {
        let (r, o) = t.join().map_err(|_| "a thread panicked".to_owned())??;
        total = (total.0 + r, total.1 + o);
    }
    Ok(total)
}

/// A child's part; nothing in an ordinary run.
#[test]
fn child() {
    let (Ok(urls), Ok(topology), Ok(prefix), Ok(id)) = (
        std::env::var(URLS_VAR),
        std::env::var(TOPOLOGY_VAR),
        std::env::var(PREFIX_VAR),
        std::env::var(ID_VAR),
    ) else {
        return;
    };
    let id: u32 = id.parse().expect("a process id");
    let urls: Vec<&str> = urls.split(',').collect();
    let config = match topology.as_str() {
        "cluster" => RedisConfig::cluster(urls),
        "sentinel" => RedisConfig::sentinel(urls, SentinelGroup::MASTER_NAME),
        _ => RedisConfig::new(urls[0]),
    };
    let far = RedisCache::new(
        config
            .key_prefix(prefix)
            .timeouts(Duration::from_millis(500))
            .pool_size(4),
    )
    .expect("a cache on the test server");
    let cache = Arc::new(
        TieredCache::<Value, _>::builder(far)
            .near_max_size(1_000)
            .build_invalidated()
            .expect("a tiered cache subscribed to the invalidations"),
    );
    say("ready");
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("a command");
        let words: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| -> u64 { words[i].parse().expect("a number") };
        match words[0] {
            "set" => match retried(|| cache.set(words[1], (id, num(2)), Ttl::Never)) {
                Ok(_) => say("done"),
                Err(e) => say(&format!("error {e}")),
            },
            "read" => match cache.get(words[1]) {
                Ok(v) => say(&format!("value {}", show(v))),
                Err(e) => say(&format!("error {e:#}")),
            },
            "await" => {
                let want = (u32::try_from(num(2)).expect("an id"), num(3));
                let start = Instant::now();
                let mut last;
                let answer = loop {
                    match cache.get(words[1]) {
                        Ok(Some(v)) if v == want => {
                            break format!("seen {}", start.elapsed().as_micros())
                        }
                        Ok(v) => last = v,
                        Err(e) => break format!("error {e:#}"),
                    }
                    if start.elapsed() > SEEN_WITHIN {
                        break format!("stale {}", show(last));
                    }
                };
                say(&answer);
            }
            "mixed" => match mixed(&cache, id, num(1)) {
                Ok((reads, theirs)) => say(&format!(
                    "result {reads} {theirs} {}",
                    cache.tier_stats().near_hits_served
                )),
                Err(e) => say(&format!("violation {e}")),
            },
            "quit" => break,
            other => say(&format!("error unknown command {other}")),
        }
    }
}

// ---------------------------------------------------------------- the parent's part

/// A child process, answering commands.
struct Child {
    id: usize,
    process: Process,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
    /// What it printed besides answers, for messages.
    other: Arc<Mutex<Vec<String>>>,
}

impl Child {
    fn spawn(id: usize, urls: &[String], topology: &str, prefix: &str) -> Child {
        let mut process = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
            .env(URLS_VAR, urls.join(","))
            .env(TOPOLOGY_VAR, topology)
            .env(PREFIX_VAR, prefix)
            .env(ID_VAR, id.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning a child");
        let stdin = process.stdin.take().expect("its stdin");
        let stdout = process.stdout.take().expect("its stdout");
        let (tx, answers) = mpsc::channel();
        let other = Arc::new(Mutex::new(Vec::new()));
        let printed = Arc::clone(&other);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match line.strip_prefix("@@ ") {
                    Some(answer) => {
                        if tx.send(answer.to_owned()).is_err() {
                            return;
                        }
                    }
                    None => printed.lock().unwrap().push(line),
                }
            }
        });
        let mut child = Child {
            id,
            process,
            stdin,
            answers,
            other,
        };
        assert_eq!(child.answer(), "ready");
        child
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("a command to the child");
        self.stdin.flush().expect("a command to the child");
    }

    #[track_caller]
    fn answer(&mut self) -> String {
        self.answers
            .recv_timeout(ANSWER_WITHIN)
            .unwrap_or_else(|e| {
                panic!(
                    "child {} gave no answer ({e}); it printed: {:?}",
                    self.id,
                    self.other.lock().unwrap()
                )
            })
    }

    #[track_caller]
    fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.answer()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn spawn_all(urls: &[String], topology: &str, prefix: &str) -> Vec<Child> {
    (0..PROCESSES)
        .map(|id| Child::spawn(id, urls, topology, prefix))
        .collect()
}

/// A writes, then signals B and C, each of which holds the old value in its near tier:
/// each sees the new value within [`SEEN_WITHIN`]; returns the delays seen, in µs.
fn signalled(children: &mut [Child], rounds: u64) -> Vec<u64> {
    let mut delays = Vec::new();
    for n in 1..=rounds {
        let key = format!("sig{}", n % 5);
        assert_eq!(children[0].ask(&format!("set {key} {}", 2 * n)), "done");
        // B and C read it (a near copy of the old value), then A writes the new one.
        for c in &mut children[1..] {
            let got = c.ask(&format!("await {key} 0 {}", 2 * n));
            assert!(got.starts_with("seen "), "child {}: {got}", c.id);
        }
        assert_eq!(children[0].ask(&format!("set {key} {}", 2 * n + 1)), "done");
        for c in &mut children[1..] {
            c.send(&format!("await {key} 0 {}", 2 * n + 1));
        }
        for c in &mut children[1..] {
            let got = c.answer();
            let us = got
                .strip_prefix("seen ")
                .unwrap_or_else(|| panic!("child {} after A's set: {got}", c.id));
            delays.push(us.parse().expect("µs"));
        }
    }
    delays.sort_unstable();
    delays
}

/// Every child runs the mixed workload for `secs`; none reads back in time.
fn mixed_everywhere(children: &mut [Child], secs: u64) {
    for c in children.iter_mut() {
        c.send(&format!("mixed {secs}"));
    }
    for c in children.iter_mut() {
        let got = c.answer();
        let result = got
            .strip_prefix("result ")
            .unwrap_or_else(|| panic!("child {}: {got}", c.id));
        let nums: Vec<u64> = result.split(' ').map(|w| w.parse().unwrap()).collect();
        let (reads, theirs, near_hits) = (nums[0], nums[1], nums[2]);
        eprintln!(
            "child {}: {reads} reads, {theirs} of others' values, {near_hits} near hits",
            c.id
        );
        assert!(reads > 1_000, "child {} read only {reads} times", c.id);
        assert!(theirs > 0, "child {} never read another's value", c.id);
    }
}

fn both(urls: &[String], topology: &str) {
    let prefix = unique_prefix("near3");
    let mut children = spawn_all(urls, topology, &prefix);
    let delays = signalled(&mut children, 20);
    eprintln!(
        "seen after A's signal: p50 {} µs, max {} µs (from the signal reaching the process to its read that returned the new value)",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
    mixed_everywhere(&mut children, 30);
}

#[test]
fn three_processes_on_one_server() {
    let server = RedisServer::start();
    both(&[server.url()], "server");
}

#[test]
fn three_processes_on_a_cluster() {
    let cluster = RedisCluster::start(3);
    both(&cluster.urls(), "cluster");
}

/// B and C hold a near copy of `key` = A's #1; `fault` runs; A writes #2 (its `set`
/// retried until the server takes it); B and C read at once: #2, never the near copy.
/// `fault` returns what undoes it (run after the reads).
fn no_stale_read_after<'a>(
    name: &str,
    (urls, topology): (&[String], &str),
    fault: impl FnOnce() -> Box<dyn FnOnce() + 'a>,
) {
    let prefix = unique_prefix(name);
    let mut children = spawn_all(urls, topology, &prefix);
    let key = "loss";
    assert_eq!(children[0].ask(&format!("set {key} 1")), "done");
    for c in &mut children[1..] {
        assert_eq!(
            c.ask(&format!("await {key} 0 1")).split(' ').next(),
            Some("seen")
        );
        // A second read: a near hit.
        assert_eq!(c.ask(&format!("read {key}")), "value 0 1");
    }
    let undo = fault();
    assert_eq!(children[0].ask(&format!("set {key} 2")), "done");
    for c in &mut children[1..] {
        assert_eq!(
            c.ask(&format!("read {key}")),
            "value 0 2",
            "child {} read a stale near copy after the loss",
            c.id
        );
    }
    undo();
    // Back to normal: news flows again.
    assert_eq!(children[0].ask(&format!("set {key} 3")), "done");
    for c in &mut children[1..] {
        let got = c.ask(&format!("await {key} 0 3"));
        assert!(got.starts_with("seen "), "child {}: {got}", c.id);
    }
}

/// `CLIENT KILL` of every listener (the only pub/sub clients), with `maxclients` lowered
/// first so that they cannot come back until the reads are done (the children's pooled
/// connections stay): a write meanwhile reaches no listener, and only the near tier's
/// flush on the loss keeps the old copy from being read.
#[test]
fn no_stale_near_read_after_the_listeners_are_killed() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).expect("a client");
    no_stale_read_after("near-kill", (&[server.url()], "server"), || {
        let mut admin = client.get_connection().expect("an admin connection");
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        let clients = list.lines().count();
        let pubsub = list.lines().filter(|l| l.contains(" name=near:")).count();
        assert_eq!(pubsub, PROCESSES, "a listener per process: {list}");
        // After the kill, no room for a new connection.
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxclients")
            .arg(clients - pubsub)
            .query(&mut admin)
            .unwrap();
        let killed: usize = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query(&mut admin)
            .unwrap();
        assert_eq!(killed, PROCESSES);
        // Long enough for every listener to try (and fail) to come back.
        std::thread::sleep(Duration::from_millis(300));
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        assert!(
            !list.contains(" name=near:"),
            "a listener came back: {list}"
        );
        Box::new(move || {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxclients")
                .arg(10_000)
                .query(&mut admin)
                .unwrap();
        })
    });
}

/// A restart on the same port (the data gone, the near copies not). Right after it, before
/// the listeners (retrying once a second after 2.5 s down) are back, `CLIENT TRACKING` is
/// denied to the clients' user (an ACL), so that they stay out until the reads are done: a
/// write meanwhile reaches no listener, and only the near tier's flush on the loss keeps
/// the old copy from being read.
#[test]
fn no_stale_near_read_after_a_restart() {
    let server = RedisServer::start();
    no_stale_read_after("near-restart", (&[server.url()], "server"), || {
        server.kill();
        std::thread::sleep(Duration::from_millis(2_500));
        server.restart();
        deny_tracking(&server, true);
        Box::new(|| deny_tracking(&server, false))
    });
}

/// Denies (or allows again) `CLIENT TRACKING` to the default user of `server`: listeners
/// cannot subscribe; everything else works.
fn deny_tracking(server: &RedisServer, deny: bool) {
    let rule = if deny {
        "-client|tracking"
    } else {
        "+client|tracking"
    };
    let reply = server
        .query(&["ACL", "SETUSER", "default", rule])
        .expect("ACL SETUSER on the test server");
    assert_eq!(reply.text(), "OK", "{reply:?}");
}

/// A forced Sentinel failover (`SENTINEL FAILOVER`): the old primary is demoted and
/// Sentinel kills its clients, the listeners among them. The replica about to be promoted
/// denies `CLIENT TRACKING` (an ACL) until the reads are done, so the listeners cannot come
/// back on it meanwhile: A's write after the demotion (on the new primary) reaches no
/// listener, and B's and C's reads after it must return it, not the near copy.
#[test]
fn no_stale_near_read_after_a_sentinel_failover() {
    let group = SentinelGroup::start(1, 3);
    let urls = group.sentinel_urls();
    no_stale_read_after("near-sentinel", (&urls, "sentinel"), || {
        let old = group.primary();
        for (i, server) in group.servers().iter().enumerate() {
            if i != old {
                deny_tracking(server, true);
            }
        }
        redis_test_support::succeeds_within(Duration::from_secs(15), "SENTINEL FAILOVER", || {
            group.sentinels()[0].query(&["SENTINEL", "FAILOVER", SentinelGroup::MASTER_NAME])
        });
        group.wait_for_promotion(old);
        // Sentinel demotes the old primary a moment after the promotion, killing its
        // clients then: until that, it still takes writes (and its listeners hear them).
        redis_test_support::succeeds_within(Duration::from_secs(30), "the demotion", || {
            let role = group.servers()[old]
                .query(&["ROLE"])
                .map_err(|e| e.to_string())?;
            let listeners = group.servers()[old]
                .query(&["CLIENT", "LIST"])
                .map_err(|e| e.to_string())?
                .text()
                .matches(" name=near:")
                .count();
            match (role.items().first().map(|r| r.text()), listeners) {
                (Some(r), 0) if r == "slave" => Ok(()),
                other => Err(format!("role and listeners of the old primary: {other:?}")),
            }
        });
        Box::new(|| {
            for server in group.servers() {
                deny_tracking(server, false);
            }
        })
    });
}
