//! One summary for a whole `cargo xtask test` or `ci`: every step runs whatever failed
//! before it (`cargo test --no-fail-fast`), the test runners' output is passed through as it
//! comes and read on the way (`test result:` lines, `test NAME ... FAILED` lines, the test
//! binary each belongs to), and the run ends on what passed and failed, by name.

use std::io::{BufRead, BufReader, Write};
use std::process::Command;

use crate::Result;

/// What the steps of one run counted.
#[derive(Default)]
pub(crate) struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
    /// Failed tests, as `binary: test`.
    failures: Vec<String>,
    /// Steps that failed without a failed test to show for it (a build error, a check).
    broken: Vec<String>,
}

impl Tally {
    /// Runs `cargo args` with `envs`, its output (stdout and stderr, in the order written)
    /// passed through and read for test results. A step that exits non-zero with no
    /// failed test counted is a broken step.
    pub(crate) fn cargo(&mut self, args: &[&str], envs: &[(&str, &str)]) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let step = format!("cargo {}", args.join(" "));
        eprintln!("$ {step}");
        let failed_before = self.failed;
        let mut command = Command::new(&cargo);
        command.args(args).envs(envs.iter().copied());
        let outcome = self.run_reading(command, &mut std::io::stdout());
        match outcome {
            Ok(true) => {}
            Ok(false) if self.failed > failed_before => {}
            Ok(false) => self.broken.push(step),
            Err(e) => self.broken.push(format!("{step}: {e}")),
        }
    }

    /// A step that is not a test run (a check, an example): broken if it fails.
    pub(crate) fn step(&mut self, name: &str, result: Result) {
        if let Err(e) = result {
            eprintln!("xtask: {name}: {e}");
            self.broken.push(format!("{name}: {e}"));
        }
    }

    /// A step that broke without a failed test to show for it.
    pub(crate) fn broken(&mut self, step: String) {
        eprintln!("xtask: {step}");
        self.broken.push(step);
    }

    /// The whole output of one test binary (named `name`, announced by `header`), printed
    /// and read; a binary that failed with no failed test counted (a crash, an abort) is a
    /// broken step.
    pub(crate) fn absorb(&mut self, header: &str, lines: &[String], success: bool, name: &str) {
        let failed_before = self.failed;
        let mut binary = String::from("?");
        println!("{header}");
        self.read_line(header, &mut binary);
        for line in lines {
            println!("{line}");
            self.read_line(line, &mut binary);
        }
        if !success && self.failed == failed_before {
            self.broken(format!("{name}: exited with a failure and no failed test"));
        }
    }

    /// Prints the summary; an error if any test failed or any step broke. The last line is
    /// `summary: N passed, N failed` (a broken step counts as one failure there).
    pub(crate) fn finish(self, what: &str) -> Result {
        let failed = self.failed + self.broken.len() as u64;
        println!();
        println!("== cargo xtask {what}: summary");
        for f in &self.failures {
            println!("FAILED test  {f}");
        }
        for b in &self.broken {
            println!("FAILED step  {b}");
        }
        if self.ignored > 0 {
            println!("({} ignored)", self.ignored);
        }
        println!("summary: {} passed, {failed} failed", self.passed);
        if failed == 0 {
            Ok(())
        } else {
            Err(format!(
                "{} test(s) and {} step(s) failed",
                self.failures.len(),
                self.broken.len()
            ))
        }
    }

    /// Runs `command` with stdout and stderr on one pipe, echoing each line to `echo` and
    /// reading it; `Ok(success)`.
    fn run_reading(
        &mut self,
        command: Command,
        echo: &mut dyn Write,
    ) -> std::result::Result<bool, String> {
        let (reader, mut child) = spawn_merged(command)?;
        let mut binary = String::from("?");
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(echo, "{line}");
            self.read_line(&line, &mut binary);
        }
        let status = child.wait().map_err(|e| format!("cannot wait: {e}"))?;
        Ok(status.success())
    }

    fn read_line(&mut self, line: &str, binary: &mut String) {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Running ") {
            // `Running tests/foo.rs (target/debug/deps/foo-0123)` or `Running unittests src/lib.rs (...)`.
            *binary = rest.split(" (").next().unwrap_or(rest).to_owned();
        } else if let Some(rest) = trimmed.strip_prefix("Doc-tests ") {
            *binary = format!("doctests {rest}");
        } else if let Some(rest) = trimmed.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = n.parse::<u64>() else { continue };
                match kind {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    "ignored" => self.ignored += n,
                    _ => {}
                }
            }
        } else if let Some(name) = trimmed
            .strip_prefix("test ")
            .and_then(|rest| rest.strip_suffix(" ... FAILED"))
        {
            self.failures.push(format!("{binary}: {name}"));
        }
    }
}

/// Starts `command` with its stdout and stderr on one pipe (the order written kept): the
/// pipe's reader, which sees the end when the child exits, and the child.
pub(crate) fn spawn_merged(
    mut command: Command,
) -> std::result::Result<(std::io::PipeReader, std::process::Child), String> {
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let writer_err = writer
        .try_clone()
        .map_err(|e| format!("cannot clone a pipe: {e}"))?;
    let child = command
        .stdout(writer)
        .stderr(writer_err)
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    // The child holds the only writers left once `command` is dropped.
    Ok((reader, child))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_results_and_failures_by_binary() {
        let mut t = Tally::default();
        let mut binary = String::new();
        for line in [
            "     Running tests/ops.rs (target/debug/deps/ops-0123)",
            "test incr_works ... ok",
            "test add_races ... FAILED",
            "test result: FAILED. 7 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.1s",
            "   Doc-tests cache_core",
            "test crates/cache-core/src/lib.rs - Ttl (line 3) ... FAILED",
            "test result: FAILED. 40 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3s",
        ] {
            t.read_line(line, &mut binary);
        }
        assert_eq!((t.passed, t.failed, t.ignored), (47, 2, 2));
        assert_eq!(
            t.failures,
            [
                "tests/ops.rs: add_races",
                "doctests cache_core: crates/cache-core/src/lib.rs - Ttl (line 3)"
            ]
        );
        assert!(t.finish("test").is_err());
    }

    #[test]
    fn a_command_is_read_from_stdout_and_stderr_in_order() {
        let mut t = Tally::default();
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            "echo '     Running tests/a.rs (x)'; echo 'test one ... FAILED' >&2; \
             echo 'test result: FAILED. 3 passed; 1 failed; 0 ignored'; exit 101",
        ]);
        // Echoed into a buffer: on the real stdout, the run of this test would read it.
        let mut echoed = Vec::new();
        assert_eq!(t.run_reading(sh, &mut echoed), Ok(false));
        assert!(String::from_utf8_lossy(&echoed).contains("test one ... FAILED"));
        assert_eq!((t.passed, t.failed), (3, 1));
        assert_eq!(t.failures, ["tests/a.rs: one"]);
    }

    #[test]
    fn a_clean_run_finishes_ok_and_a_broken_step_fails() {
        let mut t = Tally::default();
        let mut binary = String::new();
        t.read_line(
            "test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0s",
            &mut binary,
        );
        assert!(t.finish("test").is_ok());
        let mut t = Tally::default();
        t.step("examples", Err("quickstart failed".into()));
        assert!(t.finish("test").is_err());
    }
}
