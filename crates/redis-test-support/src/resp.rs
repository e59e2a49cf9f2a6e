//! Just enough of the Redis protocol to ask a test server a question without a client crate.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// A reply of a Redis server.
///
/// ```
/// use redis_test_support::Reply;
/// let r = Reply::Bulk(Some(b"PONG".to_vec()));
/// assert_eq!(r.text(), "PONG");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$3 foo`, or the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*2 ...`, or the nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: simple strings, errors, integers and bulk strings (lossy UTF-8);
    /// empty for nil and arrays.
    ///
    /// ```
    /// assert_eq!(redis_test_support::Reply::Int(3).text(), "3");
    /// ```
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(s) | Reply::Error(s) => s.clone(),
            Reply::Int(i) => i.to_string(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Bulk(None) | Reply::Array(_) => String::new(),
        }
    }

    /// The integer of an integer reply.
    ///
    /// ```
    /// assert_eq!(redis_test_support::Reply::Int(3).int(), Some(3));
    /// ```
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements of an array reply (none for anything else).
    ///
    /// ```
    /// assert!(redis_test_support::Reply::Int(3).items().is_empty());
    /// ```
    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(items)) => items,
            _ => &[],
        }
    }
}

/// Sends one command to `127.0.0.1:port` on a new connection and reads its reply, each step
/// bounded by `timeout`.
pub(crate) fn command<A: AsRef<[u8]>>(
    port: u16,
    args: &[A],
    timeout: Duration,
) -> io::Result<Reply> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut out = Vec::new();
    write!(out, "*{}\r\n", args.len())?;
    for a in args {
        let a = a.as_ref();
        write!(out, "${}\r\n", a.len())?;
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    (&stream).write_all(&out)?;
    read_reply(&mut BufReader::new(&stream))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(bad("truncated reply"));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| bad("reply header is not UTF-8"))
}

fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at_checked(1).ok_or_else(|| bad("empty reply"))?;
    let number = || rest.parse::<i64>().map_err(|_| bad("bad length"));
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(n) => {
                let mut buf = vec![0; n + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n);
                Reply::Bulk(Some(buf))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Reply::Array(None),
            Ok(n) => Reply::Array(Some(
                (0..n).map(|_| read_reply(r)).collect::<io::Result<_>>()?,
            )),
        },
        _ => return Err(bad("unknown reply type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_replies() {
        let raw = b"*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+OK\r\n$-1\r\n";
        let reply = read_reply(&mut &raw[..]).unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                Reply::Int(1),
                Reply::Bulk(Some(b"foo".to_vec())),
                Reply::Array(Some(vec![Reply::Simple("OK".into()), Reply::Bulk(None)])),
            ]))
        );
    }
}
