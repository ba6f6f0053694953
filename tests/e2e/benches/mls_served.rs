//! End-to-end MLS figures through the served API (`cargo lambda watch`, as scripts/test.sh starts it):
//! messages per second one device sends and another reads, and the time from a send on one device to a read
//! seeing it on another — in-process with the SDK (the system's cost: HTTP, the Lambda functions, the store,
//! MLS on both ends) and with the `e2ee` CLI (each command a process that also derives the state key).
//!
//! `E2EE_SERVER=http://127.0.0.1:PORT E2EE_DATA_DIR=... E2EE_CLI=target/debug/e2ee cargo bench -p e2ee-e2e --bench mls_served`
//! (skips without E2EE_SERVER). Prints medians of one run.

use std::time::{Duration, Instant};

use e2ee_client::device::Device;
use e2ee_client::mls::MlsState;
use e2ee_client::profile::Profile;
use e2ee_test_kit::cli::{PASSPHRASE, Profiles, secret, unlocked};

const THROUGHPUT_MESSAGES: usize = 200;
const LATENCY_ROUNDS: usize = 30;
const CLI_ROUNDS: usize = 10;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn open(cli: &Profiles, name: &str) -> (Device, MlsState) {
    let profile = Profile::open(cli.dir(), name).unwrap();
    let device = Device::open(profile, Some(cli.server())).unwrap();
    let state = MlsState::open(device.profile(), secret(PASSPHRASE).as_bytes()).unwrap();
    (device, state)
}

#[tokio::main]
async fn main() {
    if std::env::var_os("E2EE_SERVER").is_none() {
        eprintln!("mls_served: skipped (set E2EE_SERVER and E2EE_DATA_DIR to a served API)");
        return;
    }
    let (cli, _served, [_, (bob, _, _)]) =
        Profiles::served_with(["alice", "bob"]).expect("the served API");
    for profile in ["alice", "bob"] {
        cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
    }
    let created = cli.json("alice", &unlocked(&["group", "create", "--member", &bob]));
    let group = created["groupId"].as_str().unwrap().to_owned();
    cli.json("bob", &unlocked(&["sync"]));

    let (mut alice, mut alice_state) = open(&cli, "alice");
    let (mut bob_device, mut bob_state) = open(&cli, "bob");
    let text = "x".repeat(100);

    // Throughput: one device sends a burst (with the leaf updates due every 50 messages), the other reads it.
    let started = Instant::now();
    for _ in 0..THROUGHPUT_MESSAGES {
        alice
            .group_send(&mut alice_state, &group, &text)
            .await
            .unwrap();
    }
    let sent = started.elapsed();
    let started = Instant::now();
    let read = bob_device
        .group_read(&mut bob_state, &group, false)
        .await
        .unwrap();
    let received = started.elapsed();
    assert_eq!(read.messages.len(), THROUGHPUT_MESSAGES);
    let rate = |elapsed: Duration| THROUGHPUT_MESSAGES as f64 / elapsed.as_secs_f64();
    println!(
        "sdk: {THROUGHPUT_MESSAGES} messages sent in {sent:.2?} ({:.0}/s), read in {received:.2?} ({:.0}/s)",
        rate(sent),
        rate(received)
    );

    // Latency: a send on one device until a read on the other returns it.
    let mut latencies = Vec::new();
    for round in 0..LATENCY_ROUNDS {
        let text = format!("ping {round}");
        let started = Instant::now();
        alice
            .group_send(&mut alice_state, &group, &text)
            .await
            .unwrap();
        loop {
            let read = bob_device
                .group_read(&mut bob_state, &group, false)
                .await
                .unwrap();
            if read
                .messages
                .iter()
                .any(|m| m.text.as_deref() == Some(&text))
            {
                break;
            }
        }
        latencies.push(started.elapsed());
    }
    println!(
        "sdk: send -> read on the other device, median of {LATENCY_ROUNDS}: {:.2?}",
        median(latencies)
    );
    alice_state.save(alice.profile()).unwrap();
    bob_state.save(bob_device.profile()).unwrap();
    drop((alice_state, bob_state));

    // The same through the CLI: `e2ee group send` then `e2ee group read`, each its own process.
    let (mut sends, mut reads, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..CLI_ROUNDS {
        let text = format!("cli ping {round}");
        let started = Instant::now();
        cli.json("alice", &unlocked(&["group", "send", &group, &text]));
        let sent_at = started.elapsed();
        let read = cli.json("bob", &unlocked(&["group", "read", &group]));
        let total = started.elapsed();
        assert!(read.to_string().contains(&text), "{read}");
        sends.push(sent_at);
        reads.push(total - sent_at);
        totals.push(total);
    }
    println!(
        "cli: median of {CLI_ROUNDS}: `group send` {:.2?}, `group read` {:.2?}, send -> read {:.2?}",
        median(sends),
        median(reads),
        median(totals)
    );
}
