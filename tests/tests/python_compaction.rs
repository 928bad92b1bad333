//! Topic compaction through the official Python `pulsar-client` against a
//! real `magnetar standalone`: the admin trigger and status, read_compacted
//! readers and consumers (also after the original ledgers were trimmed),
//! TableView, and the namespace's compactionThreshold compacting on the
//! broker's policy pass.

use std::time::Duration;

use magnetar_tests::{run_python_ok, Standalone};

#[test]
fn compaction_read_compacted_and_table_view() {
    let standalone = Standalone::start_with(&[
        "--policy-check-interval-ms",
        "500",
        "--managed-ledger-max-entries-per-ledger",
        "10",
        "--managed-ledger-min-ledger-rollover-time-minutes",
        "0",
    ])
    .unwrap();
    let url = standalone.pulsar_url().unwrap();
    let admin = standalone.http_url().unwrap();
    run_python_ok("compaction.py", &[&url, &admin], Duration::from_secs(180));
}
