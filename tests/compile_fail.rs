//! Wrong wiring does not compile: each file in tests/ui must fail with the committed message.

#[test]
fn wrong_wiring_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
