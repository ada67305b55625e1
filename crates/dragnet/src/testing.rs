//! Test support shared by every crate's tests: what a test does when a service it needs
//! (redis-server, PostgreSQL, warcio) is missing.
//!
//! A developer running one test by hand gets one `SKIPPED:` line and a pass. Under
//! `scripts/test`, and so in CI, [`REQUIRE_SERVICES_ENV`] is set and the same test fails,
//! so a run that could not check something does not report it as checked.

use std::io::Write as _;

/// Set (to anything but empty or `0`) by `scripts/test`: a missing service fails the test.
pub const REQUIRE_SERVICES_ENV: &str = "DRAGNET_REQUIRE_SERVICES";

/// Whether a missing service must fail the test ([`REQUIRE_SERVICES_ENV`] is set).
pub fn services_required() -> bool {
    std::env::var_os(REQUIRE_SERVICES_ENV).is_some_and(|value| !value.is_empty() && value != "0")
}

/// Reports that a test cannot run its check because `why` (which names the service and how
/// to get it): panics when services are required, otherwise writes one `SKIPPED:` line and
/// returns, and the caller skips the check.
///
/// # Panics
/// When [`REQUIRE_SERVICES_ENV`] is set: that is its purpose.
pub fn missing_service(why: &str) {
    assert!(
        !services_required(),
        "{why} ({REQUIRE_SERVICES_ENV} is set, as scripts/test and CI set it: every service must be there)"
    );
    // Straight to the stderr handle: the test harness captures `eprintln!` of passing
    // tests, and this line must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}
