//! Commands as they are sent: [`Command`], a `Cmd` that reuses the buffers of the thread's
//! previous command, and the builders of the commands (and cluster routes) that both links
//! send. No I/O here.

use std::cell::Cell;
use std::io::Write;

#[cfg(feature = "cluster")]
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Arg, Cmd, RedisWrite};
#[cfg(feature = "cluster")]
use redis::{RedisError, RedisResult};

/// The largest buffer kept for the next command (the packed command of a connection, a
/// thread's reused `Cmd`); a larger one, left by a large value, is freed after its use.
pub(crate) const KEEP_BYTES: usize = 64 * 1024;

/// `SCAN cursor MATCH pattern COUNT count`.
pub(crate) fn scan_cmd(cursor: &str, pattern: &[u8], count: u32) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(count);
    cmd
}

/// A command with one key argument (used by the cluster and async paths).
#[cfg(any(feature = "cluster", feature = "tokio"))]
#[inline]
pub(crate) fn single(name: &str, key: &[u8]) -> Command {
    let mut cmd = Command::new(name, 1, key.len());
    cmd.arg(key);
    cmd
}

/// Appends to `cmd` one argument made of `parts`, one after the other.
pub(crate) fn arg_of_parts(cmd: &mut Cmd, parts: &[&[u8]]) {
    let mut arg = cmd.writer_for_next_arg();
    for part in parts {
        // A command's buffer is a `Vec`, which takes every write.
        let _infallible = arg.write_all(part);
    }
}

/// A command being built, and a buffer to encode its value into, that reuse the buffers of
/// the last command this thread finished with instead of allocating their own: a blocking
/// call then allocates nothing to build its command. Dereferences to the `Cmd`.
pub(crate) struct Command {
    cmd: Cmd,
    scratch: Vec<u8>,
}

thread_local! {
    /// The buffers of the last [`Command`] this thread dropped, for the next one.
    static SPARE: Cell<Option<(Cmd, Vec<u8>)>> = const { Cell::new(None) };
}

impl Command {
    /// The command `name`. With no buffers to reuse, it gets room for `args` more arguments
    /// of `bytes` bytes in all, so that adding them does not grow its buffers.
    #[inline]
    pub(crate) fn new(name: &str, args: usize, bytes: usize) -> Self {
        let (mut cmd, scratch) = SPARE
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(|| (Cmd::with_capacity(1 + args, name.len() + bytes), Vec::new()));
        cmd.arg(name);
        Command { cmd, scratch }
    }

    /// The command and the scratch buffer, borrowed together.
    pub(crate) fn parts(&mut self) -> (&mut Cmd, &mut Vec<u8>) {
        (&mut self.cmd, &mut self.scratch)
    }

    /// The `Cmd` itself (for a pipeline, which takes its commands by value).
    pub(crate) fn into_cmd(mut self) -> Cmd {
        std::mem::take(&mut self.cmd)
    }
}

impl std::ops::Deref for Command {
    type Target = Cmd;

    fn deref(&self) -> &Cmd {
        &self.cmd
    }
}

impl std::ops::DerefMut for Command {
    fn deref_mut(&mut self) -> &mut Cmd {
        &mut self.cmd
    }
}

impl Drop for Command {
    /// Hands the buffers to the next command of this thread, unless a large value left them
    /// large.
    fn drop(&mut self) {
        let bytes: usize = self
            .cmd
            .args_iter()
            .map(|a| match a {
                Arg::Simple(a) => a.len(),
                _ => 0,
            })
            .sum();
        if bytes > KEEP_BYTES || self.scratch.capacity() > KEEP_BYTES {
            return;
        }
        let mut cmd = std::mem::take(&mut self.cmd);
        let mut scratch = std::mem::take(&mut self.scratch);
        cmd.clear();
        scratch.clear();
        // A thread being torn down keeps nothing.
        let _ = SPARE.try_with(|spare| spare.set(Some((cmd, scratch))));
    }
}

/// The route to a node given as `host:port`.
#[cfg(feature = "cluster")]
pub(crate) fn by_address(node: &str) -> RedisResult<RoutingInfo> {
    let bad = || {
        RedisError::from((
            redis::ErrorKind::Client,
            "unexpected node address",
            node.to_owned(),
        ))
    };
    let (host, port) = node.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    Ok(RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
        host: host.to_owned(),
        port,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::keys::{keyed, KeySpace};

    #[test]
    fn a_command_reuses_buffers_but_starts_empty_and_nests() {
        let mut big = Command::new("SET", 2, 0);
        big.arg("k").arg(vec![1u8; 100]);
        drop(big);
        let mut outer = Command::new("GET", 1, 0);
        outer.arg("a");
        // A second command while the first is alive gets buffers of its own.
        let mut inner = Command::new("EXISTS", 1, 0);
        inner.arg("b");
        assert_eq!(
            inner.get_packed_command(),
            b"*2\r\n$6\r\nEXISTS\r\n$1\r\nb\r\n"
        );
        drop(inner);
        assert_eq!(
            outer.get_packed_command(),
            b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
        );
        let cmd = outer.into_cmd();
        assert_eq!(cmd.args_iter().count(), 2);
        let keys = KeySpace::new("p:", 7);
        let mut keyed = keyed("GET", &keys, "x");
        arg_of_parts(&mut keyed, &[b"a", b"", b"bc"]);
        assert_eq!(
            keyed.get_packed_command(),
            b"*3\r\n$3\r\nGET\r\n$5\r\np:x\xff7\r\n$3\r\nabc\r\n"
        );
    }
}
