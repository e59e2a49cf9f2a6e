//! The harness of the cross-process checks ([`processes`](crate::processes) and
//! [`flights`](crate::flights)): the test binary re-invoked as child processes that run its
//! `child` test, each printing `ready` and then waiting for a `go` line on its stdin, so
//! that the parent releases them together and collects what they print.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdout, Command, Stdio};

/// The name of the test a child runs when the backend wrote its own `child` test at the root
/// of its test file.
pub(crate) const CHILD_TEST: &str = "child";

/// The test binary, to run as a child: its test `child_test` alone (by its full name, as
/// `json::child`), its output shown, with the environment of a role added by the caller.
pub(crate) fn this_test_binary(child_test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([
        "--exact",
        child_test,
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]);
    cmd
}

/// The child's side: prints `ready` and waits for the parent's go (a line on stdin).
pub(crate) fn ready_and_wait_for_go() {
    println!("ready");
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .expect("the parent's go");
}

/// A child process, its stdin and stdout piped, killed when dropped (on every path, a
/// failed assertion's included).
pub(crate) struct Child {
    process: std::process::Child,
    out: BufReader<ChildStdout>,
}

impl Child {
    /// Starts `cmd` with its stdin and stdout piped (stderr is inherited).
    pub(crate) fn spawn(mut cmd: Command) -> Self {
        let mut process = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning a child");
        let out = BufReader::new(process.stdout.take().expect("a stdout"));
        Child { process, out }
    }

    /// Reads lines until one equals `want` (lines of the test harness come first).
    pub(crate) fn await_line(&mut self, want: &str) {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.out.read_line(&mut line).expect("reading a child");
            assert!(n > 0, "the child ended before printing {want:?}");
            if line.trim() == want {
                return;
            }
        }
    }

    /// Sends the go line [`ready_and_wait_for_go`] waits for.
    fn go(&mut self) {
        let stdin = self.process.stdin.as_mut().expect("a stdin");
        stdin.write_all(b"go\n").expect("releasing a child");
        stdin.flush().expect("releasing a child");
    }

    /// Kills the child (SIGKILL on Unix) and reaps it.
    pub(crate) fn kill(&mut self) {
        self.process.kill().expect("SIGKILL");
        self.process.wait().expect("reaping a child");
    }

    /// The rest of the child's output, by line, once it ended; panics if it failed.
    fn finish(mut self) -> Vec<String> {
        let mut rest = String::new();
        self.out
            .read_to_string(&mut rest)
            .expect("a child's output");
        assert!(
            self.process.wait().expect("a child").success(),
            "a child failed"
        );
        rest.lines().map(str::to_owned).collect()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Waits until every child printed `ready`, lets them all go at once, and returns the lines
/// they printed afterwards (the first child's, then the next's); panics if one failed.
pub(crate) fn release_together(mut children: Vec<Child>) -> Vec<String> {
    for child in &mut children {
        child.await_line("ready");
    }
    for child in &mut children {
        child.go();
    }
    children.into_iter().flat_map(Child::finish).collect()
}
