//! The cross-process cases of [`conformance_tests!`](crate::conformance_tests), for a
//! backend that several processes share (a directory, a Redis key prefix) and whose
//! [`Harness::shared`] says how: `incr` and `add` raced by two processes of eight threads
//! ([`processes`]), and single flight across processes ([`flights`]). The test binary
//! re-invokes itself for the children, which run the `child` test the macro writes beside
//! the cases ([`child`]).

use crate::{children, flights, processes, Harness, Shared};

/// The variable that makes a child of [`processes`] (role, name and spec).
pub const PROCESS_ENV: &str = "CACHE_CONFORMANCE_RACE_CHILD";

/// The variable that gives a child of [`flights`] the spec of the shared storage.
pub const SPEC_ENV: &str = "CACHE_CONFORMANCE_SPEC";

/// The `child` test's part: in a child this test binary started, opens the storage the
/// parent named and plays its role; in an ordinary run, does nothing.
pub fn child<H: Harness>(h: &H) {
    let Some(shared) = h.shared() else {
        return;
    };
    processes::child(PROCESS_ENV, |spec| shared.open(spec));
    if let Some((role, work)) = flights::child_role() {
        let spec = std::env::var(SPEC_ENV).expect("the parent names the shared storage");
        let (_, strings) = shared.open(&spec);
        flights::run_child(&role, &work, &*strings);
    }
}

/// The full name of the test `child` in the module `module` (a `module_path!()`): the
/// path without the crate's name, as the test runner names tests.
///
/// ```
/// use cache_conformance::shared::child_test_name;
/// assert_eq!(child_test_name("conformance"), "child");
/// assert_eq!(child_test_name("conformance::json::v2"), "json::v2::child");
/// ```
pub fn child_test_name(module: &str) -> String {
    match module.split_once("::") {
        Some((_, inner)) => format!("{inner}::child"),
        None => "child".to_owned(),
    }
}

/// The harness's [`Shared`], or a panic that says how to declare it or opt out.
fn shared_of<'h, H: Harness>(h: &'h H, case: &str) -> &'h dyn Shared {
    h.shared().unwrap_or_else(|| {
        panic!(
            "the harness does not declare `Harness::shared` (how child processes open the \
             storage), which the cross-process case `{case}` needs: implement it, or opt out \
             by name: conformance_tests!(harness, skip: [{case}])"
        )
    })
}

/// The opener of a child that runs `child_test` on `spec`, for [`flights`].
fn spawner<'a>(child_test: &'a str, spec: &'a str) -> impl Fn() -> std::process::Command + 'a {
    move || {
        let mut cmd = children::this_test_binary(child_test);
        cmd.env(SPEC_ENV, spec);
        cmd
    }
}

/// [`processes::incr_across_processes`]: two processes of eight threads `incr` one key, and
/// the count is exact.
pub fn incr_across_processes<H: Harness>(h: &H, child_test: &str) {
    let shared = shared_of(h, "incr_across_processes");
    let (spec, _keep) = shared.fresh();
    let (counters, _) = shared.open(&spec);
    processes::incr_across_processes_from(child_test, PROCESS_ENV, &spec, &*counters);
}

/// [`processes::add_across_processes`]: two processes of eight threads race `add`, one
/// winner per key.
pub fn add_across_processes<H: Harness>(h: &H, child_test: &str) {
    let shared = shared_of(h, "add_across_processes");
    let (spec, _keep) = shared.fresh();
    let (_, strings) = shared.open(&spec);
    processes::add_across_processes_from(child_test, PROCESS_ENV, &spec, &*strings);
}

/// [`flights::loader_runs_once_across_processes`].
pub fn loader_runs_once_across_processes<H: Harness>(h: &H, child_test: &str) {
    let shared = shared_of(h, "loader_runs_once_across_processes");
    let (spec, _keep) = shared.fresh();
    let (_, strings) = shared.open(&spec);
    flights::loader_runs_once_across_processes(&spawner(child_test, &spec), &*strings);
}

/// [`flights::failing_loader_runs_once_across_processes`].
pub fn failing_loader_runs_once_across_processes<H: Harness>(h: &H, child_test: &str) {
    let shared = shared_of(h, "failing_loader_runs_once_across_processes");
    let (spec, _keep) = shared.fresh();
    let (_, strings) = shared.open(&spec);
    flights::failing_loader_runs_once_across_processes(&spawner(child_test, &spec), &*strings);
}

/// [`flights::killed_holder_blocks_no_one`].
pub fn killed_holder_blocks_no_one<H: Harness>(h: &H, child_test: &str) {
    let shared = shared_of(h, "killed_holder_blocks_no_one");
    let (spec, _keep) = shared.fresh();
    let (_, strings) = shared.open(&spec);
    flights::killed_holder_blocks_no_one(&spawner(child_test, &spec), &*strings);
}
