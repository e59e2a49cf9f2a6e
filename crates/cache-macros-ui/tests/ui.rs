//! The attribute's forms: each that compiles (and runs: the pass files assert), and each
//! wrong one with its message (`ui/fail/*.stderr`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
