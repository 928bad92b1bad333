//! Power loss: a standalone's data directory on a [`LossyDisk`], which
//! forgets every write not yet fsynced when the power goes. `magnetar
//! verify` runs while the standalone is killed (-9), the power lost and the
//! standalone started again on the same ports and data. A bookie that
//! fsyncs its journal before it acknowledges loses nothing; the same run
//! with `--journal-sync false` (acknowledging before any fsync) must lose
//! acknowledged messages, which is what shows the disk, and verify, would
//! catch a bookie that acks before fsync. Needs root and `/dev/fuse`;
//! skipped (with a line saying so) otherwise.

use std::net::TcpListener;
use std::time::Duration;

use magnetar_tests::lossy_fs::LossyDisk;
use magnetar_tests::verify_command::{VerifyCommand, VerifyOutcome};
use magnetar_tests::MagnetarProcess;

/// How long a standalone may take to start (it replays its journal).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a whole verify run may take.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(240);
/// How long verify produces; the power goes after `CRASH_AFTER`.
const PRODUCE_SECS: &str = "8";
const CRASH_AFTER: Duration = Duration::from_secs(4);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs verify against a standalone on a lossy disk, with one power loss
/// in the middle of producing.
fn verify_across_power_loss(journal_sync: bool) -> (VerifyOutcome, u64) {
    let mut disk = LossyDisk::mount().unwrap();
    let data = disk.path().join("data");
    let (pulsar_port, http_port) = (free_port().to_string(), free_port().to_string());
    let args = [
        "standalone",
        "--data-dir",
        data.to_str().unwrap(),
        "--pulsar-port",
        &pulsar_port,
        "--http-port",
        &http_port,
        "--journal-sync",
        if journal_sync { "true" } else { "false" },
        // No checkpoint before the crash: what the journal holds is all
        // there is of the run's entries.
        "--flush-interval-ms",
        "600000",
    ];
    let mut standalone = MagnetarProcess::start(&args, START_TIMEOUT).unwrap();
    let verify = VerifyCommand::spawn(
        &standalone.pulsar_url().unwrap(),
        &standalone.http_url().unwrap(),
        &[
            "--duration-secs",
            PRODUCE_SECS,
            "--rate",
            "200",
            "--send-timeout-secs",
            "60",
            "--drain-timeout-secs",
            "60",
        ],
    )
    .unwrap();
    std::thread::sleep(CRASH_AFTER);
    standalone.kill9().unwrap();
    for (path, synced_len, overwrites) in disk.unsynced() {
        eprintln!(
            "unsynced: {} (length {synced_len} at its last fsync, {overwrites} overwrites since)",
            path.display()
        );
    }
    let restored = disk.power_loss().unwrap();
    eprintln!("power loss: {restored} bytes rolled back to their last fsync");
    standalone.restart(START_TIMEOUT).unwrap();
    let outcome = verify.wait(VERIFY_TIMEOUT).unwrap();
    eprintln!("{}", outcome.stdout);
    drop(standalone);
    (outcome, restored)
}

#[test]
fn the_lossy_disk_keeps_what_was_fsynced_and_drops_the_rest() {
    if !LossyDisk::available() {
        eprintln!("skipped: FUSE needs root and /dev/fuse");
        return;
    }
    use std::io::Write;
    let mut disk = LossyDisk::mount().unwrap();
    let synced = disk.path().join("synced");
    let unsynced = disk.path().join("unsynced");
    let mut file = std::fs::File::create(&synced).unwrap();
    file.write_all(b"kept").unwrap();
    file.sync_data().unwrap();
    file.write_all(b" and lost").unwrap();
    drop(file);
    std::fs::write(&unsynced, b"never synced").unwrap();
    std::fs::create_dir(disk.path().join("dir")).unwrap();
    let overwritten = disk.path().join("dir").join("overwritten");
    let mut file = std::fs::File::create(&overwritten).unwrap();
    file.write_all(b"0123456789").unwrap();
    file.sync_all().unwrap();
    use std::os::unix::fs::FileExt;
    file.write_all_at(b"abc", 2).unwrap();
    file.set_len(4).unwrap();
    drop(file);
    assert_eq!(std::fs::read(&synced).unwrap(), b"kept and lost");

    let restored = disk.power_loss().unwrap();
    assert!(restored > 0);
    assert_eq!(std::fs::read(&synced).unwrap(), b"kept");
    assert_eq!(std::fs::read(&unsynced).unwrap(), b"");
    assert_eq!(std::fs::read(&overwritten).unwrap(), b"0123456789");
}

#[test]
fn acknowledged_messages_survive_power_loss_only_when_the_journal_is_fsynced() {
    if !LossyDisk::available() {
        eprintln!("skipped: FUSE needs root and /dev/fuse");
        return;
    }
    let (sound, _) = verify_across_power_loss(true);
    assert!(
        sound.passed(),
        "fsync before ack loses nothing:\n{}",
        sound.stdout
    );
    assert_eq!(sound.total("lost"), 0);

    let (broken, restored) = verify_across_power_loss(false);
    assert!(restored > 0, "the unsynced journal had something to lose");
    assert!(
        !broken.status.success() && broken.total("lost") > 0,
        "a journal never fsynced must lose acknowledged messages:\n{}",
        broken.stdout
    );
}
