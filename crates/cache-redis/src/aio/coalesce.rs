//! Commands of many tasks sent on one multiplexed connection as one pipeline.
//!
//! Sent one by one, each command of a busy connection costs a write (and the server a read):
//! the connection's task, woken by the command, runs right after the task that sent it and
//! writes it alone. Here, while commands are in flight, the first command of a round starts
//! a short task that yields once, so that the tasks ready to run meanwhile add theirs, and
//! then sends them all as one pipeline (one write, one read on the server), and hands each
//! task its own reply. A command on an idle connection goes out at once, as before (one
//! task alone waits for no round). Server errors stay with the command that caused them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisResult, Value};
use tokio::sync::oneshot;

/// One command waiting for its round, and where its reply goes.
struct Waiting {
    cmd: Cmd,
    reply: oneshot::Sender<RedisResult<Value>>,
}

/// A connection whose commands go out in rounds (see the module's documentation).
pub(crate) struct Coalescer<C> {
    conn: C,
    round: Mutex<Vec<Waiting>>,
    /// Requests sent and not answered yet (single commands and rounds).
    in_flight: AtomicUsize,
    /// The most commands a round has sent.
    #[cfg(test)]
    largest_round: AtomicUsize,
}

/// Counts a request in flight until dropped (answered, or its caller gone).
struct Sending<'a>(&'a AtomicUsize);

impl<'a> Sending<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Sending(count)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> Coalescer<C> {
    pub(crate) fn new(conn: C) -> Arc<Self> {
        Arc::new(Coalescer {
            conn,
            round: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            #[cfg(test)]
            largest_round: AtomicUsize::new(0),
        })
    }

    /// Sends `cmd` in the next round and converts its reply.
    pub(crate) async fn query<T: FromRedisValue>(self: &Arc<Self>, cmd: &Cmd) -> RedisResult<T> {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _sending = Sending::new(&self.in_flight);
            let value = self.conn.clone().req_packed_command(cmd).await?;
            return Ok(redis::from_redis_value(value.extract_error()?)?);
        }
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut round = self.round.lock().unwrap_or_else(PoisonError::into_inner);
            round.push(Waiting {
                cmd: cmd.clone(),
                reply,
            });
            round.len() == 1
        };
        if first {
            // A task of its own, so that the round goes out even if this caller is dropped.
            let this = Arc::clone(self);
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                this.send_round().await;
            });
        }
        let value = answer.await.map_err(|_| {
            RedisError::from(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the connection's round was dropped",
            ))
        })??;
        Ok(redis::from_redis_value(value)?)
    }

    /// Sends the commands gathered so far, and hands out their replies.
    async fn send_round(&self) {
        let _sending = Sending::new(&self.in_flight);
        let round = std::mem::take(&mut *self.round.lock().unwrap_or_else(PoisonError::into_inner));
        let mut conn = self.conn.clone();
        #[cfg(test)]
        self.largest_round.fetch_max(round.len(), Ordering::Relaxed);
        if let [_] = &round[..] {
            let Some(Waiting { cmd, reply }) = round.into_iter().next() else {
                return;
            };
            let value = conn.req_packed_command(&cmd).await;
            let _ = reply.send(value.and_then(Value::extract_error));
            return;
        }
        let mut pipe = Pipeline::with_capacity(round.len());
        let mut replies = Vec::with_capacity(round.len());
        for Waiting { cmd, reply } in round {
            pipe.add_command(cmd);
            replies.push(reply);
        }
        match conn.req_packed_commands(&pipe, 0, replies.len()).await {
            Ok(values) if values.len() == replies.len() => {
                for (value, reply) in values.into_iter().zip(replies) {
                    let _ = reply.send(value.extract_error());
                }
            }
            Ok(_) => {
                let e = RedisError::from((
                    redis::ErrorKind::Client,
                    "a pipeline answered another number of replies",
                ));
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_test_support::RedisServer;

    /// Hundreds of tasks at once on one connection (rounds of many commands): each gets its
    /// own reply, a command the server refuses fails alone, and callers dropped before
    /// their reply leave the others unharmed.
    #[test]
    fn each_command_of_a_round_gets_its_own_reply_or_error() {
        let server = RedisServer::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = redis::Client::open(server.url()).unwrap();
            let conn = client.get_multiplexed_async_connection().await.unwrap();
            let rounds = Coalescer::new(conn);
            let _: () = rounds
                .query(redis::cmd("SET").arg("text").arg("abc"))
                .await
                .unwrap();
            let tasks: Vec<_> = (0..600)
                .map(|i| {
                    let rounds = Arc::clone(&rounds);
                    tokio::spawn(async move {
                        match i % 3 {
                            0 => {
                                let n: i64 = rounds
                                    .query(redis::cmd("INCRBY").arg(format!("n{i}")).arg(i))
                                    .await
                                    .unwrap();
                                assert_eq!(n, i);
                            }
                            1 => {
                                let e = rounds
                                    .query::<i64>(redis::cmd("INCRBY").arg("text").arg(1))
                                    .await
                                    .unwrap_err();
                                assert!(e.to_string().contains("not an integer"), "{e}");
                            }
                            _ => {
                                // Gone before its reply: the round goes out without it.
                                let mut incr = redis::cmd("INCR");
                                incr.arg("dropped");
                                let dropped = rounds.query::<i64>(&incr);
                                let _ =
                                    tokio::time::timeout(std::time::Duration::ZERO, dropped).await;
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let largest = rounds.largest_round.load(Ordering::Relaxed);
            assert!(largest > 1, "commands went out together: {largest}");
            let text: String = rounds.query(redis::cmd("GET").arg("text")).await.unwrap();
            assert_eq!(text, "abc");
            for i in (0..600).step_by(3) {
                let n: i64 = rounds
                    .query(redis::cmd("GET").arg(format!("n{i}")))
                    .await
                    .unwrap();
                assert_eq!(n, i);
            }
        });
    }
}
