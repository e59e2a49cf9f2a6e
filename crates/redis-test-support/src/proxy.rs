//! [`FaultProxy`]: a loopback TCP proxy in front of a server that loses replies or resets
//! connections on request, for the tests of what a client does when a connection fails
//! before or after the server ran its command.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`FaultProxy::reset_clients`] waits for the connections' threads to let go.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`FaultProxy::reset_clients`] leaves the kernel to deliver the resets it sent.
const DELIVERY_PAUSE: Duration = Duration::from_millis(200);

/// A TCP proxy on a free loopback port that forwards every connection to `upstream` and,
/// when told to, fails them in one of two ways:
///
/// - [`FaultProxy::drop_next_reply`]: the next bytes the server sends back on any connection
///   (the reply to a command it has run) are dropped, and that connection is closed on both
///   sides: the client sees its connection end after its command was run, without a reply.
/// - [`FaultProxy::reset_clients`]: every open client connection is reset (a TCP RST): the
///   client's next write on it fails, so a command it then sends cannot reach the server.
///
/// New connections are forwarded as before. Nothing here panics on an I/O error a fault
/// can cause: a connection's threads just end.
///
/// ```no_run
/// use redis_test_support::{FaultProxy, RedisServer};
///
/// let server = RedisServer::start();
/// let proxy = FaultProxy::start(server.port())?;
/// // A client connects to proxy.url() instead of server.url(), then:
/// proxy.drop_next_reply();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
}

/// What the proxy's threads share.
struct Shared {
    upstream: SocketAddr,
    /// Replies still to drop.
    to_drop: AtomicUsize,
    /// Replies dropped so far.
    dropped: AtomicUsize,
    stop: AtomicBool,
    /// The open connections.
    conns: Mutex<Vec<Arc<Pair>>>,
}

/// One proxied connection: the client's side and the server's.
struct Pair {
    client: TcpStream,
    server: TcpStream,
    /// Set while [`FaultProxy::reset_clients`] resets it: the threads then leave the client's
    /// socket alone, so that its last close sends the RST.
    resetting: AtomicBool,
}

impl FaultProxy {
    /// A proxy on a free loopback port to the server on `127.0.0.1:upstream_port`.
    ///
    /// # Errors
    /// When no loopback port can be bound or its thread cannot be started.
    ///
    /// ```no_run
    /// let server = redis_test_support::RedisServer::start();
    /// let proxy = redis_test_support::FaultProxy::start(server.port())?;
    /// assert_ne!(proxy.port(), server.port());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(upstream_port: u16) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream: SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port)),
            to_drop: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(FaultProxy { port, shared })
    }

    /// The proxy's port, on 127.0.0.1.
    ///
    /// ```no_run
    /// let proxy = redis_test_support::FaultProxy::start(6379)?;
    /// assert!(proxy.port() > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:port/`, the proxy's URL.
    ///
    /// ```no_run
    /// let proxy = redis_test_support::FaultProxy::start(6379)?;
    /// assert!(proxy.url().starts_with("redis://127.0.0.1:"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Drops the next reply the server sends on any connection, and closes that connection
    /// on both sides (see [`FaultProxy`]). Calls add up: twice drops two replies.
    ///
    /// ```no_run
    /// let proxy = redis_test_support::FaultProxy::start(6379)?;
    /// proxy.drop_next_reply();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn drop_next_reply(&self) {
        self.shared.to_drop.fetch_add(1, Ordering::SeqCst);
    }

    /// How many replies were dropped so far.
    ///
    /// ```no_run
    /// let proxy = redis_test_support::FaultProxy::start(6379)?;
    /// assert_eq!(proxy.dropped_replies(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dropped_replies(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Resets (TCP RST) every open client connection, and returns how many. When it returns,
    /// the resets are sent and, after a pause of 200 ms for the kernel to deliver them,
    /// received: a client's next write on one of them fails.
    ///
    /// # Errors
    /// `TimedOut` when a connection's threads do not let go of it within 5 s; an error of
    /// setting `SO_LINGER` on a socket.
    ///
    /// ```no_run
    /// let proxy = redis_test_support::FaultProxy::start(6379)?;
    /// assert_eq!(proxy.reset_clients()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reset_clients(&self) -> io::Result<usize> {
        let conns = std::mem::take(&mut *self.shared.lock());
        for pair in &conns {
            pair.resetting.store(true, Ordering::SeqCst);
            // A close with a zero linger time sends RST, not FIN.
            socket2::SockRef::from(&pair.client).set_linger(Some(Duration::ZERO))?;
            // Wakes both threads: the one reading the client, the one reading the server.
            let _ = pair.client.shutdown(Shutdown::Read);
            let _ = pair.server.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + RESET_TIMEOUT;
        for pair in &conns {
            while Arc::strong_count(pair) > 1 {
                if Instant::now() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "a proxied connection's threads did not end",
                    ));
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
        let reset = conns.len();
        // The last handles: closing them sends the resets.
        drop(conns);
        if reset > 0 {
            // On loopback the kernel delivers a reset from its network softirq, which a busy
            // machine may run a little later (in `ksoftirqd`); a write before that would
            // still succeed.
            thread::sleep(DELIVERY_PAUSE);
        }
        Ok(reset)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        for pair in std::mem::take(&mut *self.shared.lock()) {
            let _ = pair.client.shutdown(Shutdown::Both);
            let _ = pair.server.shutdown(Shutdown::Both);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Pair>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        // A client the server cannot be reached for is closed at once.
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let pair = Arc::new(Pair {
            client,
            server,
            resetting: AtomicBool::new(false),
        });
        shared.lock().push(Arc::clone(&pair));
        let up = Arc::clone(&pair);
        let down = Arc::clone(&pair);
        let shared = Arc::clone(shared);
        let started = thread::Builder::new()
            .name("fault-proxy-up".into())
            .spawn(move || forward_requests(&up))
            .and_then(|_| {
                thread::Builder::new()
                    .name("fault-proxy-down".into())
                    .spawn(move || forward_replies(&down, &shared))
            });
        if started.is_err() {
            let _ = pair.client.shutdown(Shutdown::Both);
            let _ = pair.server.shutdown(Shutdown::Both);
        }
    }
}

/// Client to server, until either side ends.
fn forward_requests(pair: &Pair) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match (&pair.client).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if (&pair.server).write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = pair.server.shutdown(Shutdown::Both);
}

/// Server to client, until either side ends or a reply is to be dropped.
fn forward_replies(pair: &Arc<Pair>, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match (&pair.server).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let drop_it = shared
            .to_drop
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if drop_it {
            shared.dropped.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if (&pair.client).write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = pair.server.shutdown(Shutdown::Both);
    if !pair.resetting.load(Ordering::SeqCst) {
        let _ = pair.client.shutdown(Shutdown::Both);
        // Closed: no longer one of the open connections.
        shared.lock().retain(|p| !Arc::ptr_eq(p, pair));
    }
}
