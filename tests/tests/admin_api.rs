//! The admin API as a whole, against a real `magnetar standalone`: one
//! good and one bad request for every operation in the broker's OpenAPI
//! description (`admin_routes.py`, which fails when an operation has no
//! case), and a property-based fuzz of every operation from that same
//! description with schemathesis (`api_fuzz.py`): no answer may be a
//! server error. The fuzz's JUnit report lands in
//! `$MAGNETAR_ARTIFACTS/schemathesis` (default: the system temp directory).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use magnetar_tests::{run_python_ok, Standalone};

/// Examples per operation and the seed of the fuzz; the same seed
/// generates the same requests.
const FUZZ_EXAMPLES: &str = "50";
const FUZZ_SEED: &str = "20261207";

#[test]
fn every_operation_answers_a_good_and_a_bad_request() -> Result<()> {
    let standalone = Standalone::start()?;
    let url = standalone.pulsar_url()?;
    let admin = standalone.http_url()?;
    let result = run_python_ok("admin_routes.py", &[&url, &admin], Duration::from_secs(240));
    eprintln!("admin routes: {result}");
    Ok(())
}

#[test]
fn schemathesis_finds_no_server_error() -> Result<()> {
    let standalone = Standalone::start()?;
    let url = standalone.pulsar_url()?;
    let admin = standalone.http_url()?;
    let dir = std::env::var_os("MAGNETAR_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("magnetar-artifacts"))
        .join("schemathesis");
    let result = run_python_ok(
        "api_fuzz.py",
        &[
            &url,
            &admin,
            FUZZ_EXAMPLES,
            FUZZ_SEED,
            &dir.to_string_lossy(),
        ],
        Duration::from_secs(900),
    );
    eprintln!("schemathesis: {result}");
    Ok(())
}
