//! The upgrade check's load client can fail: it counts refused connections
//! on a port with nothing listening, and resets when a listener is closed
//! with connections in its queue. (The check's own control, in
//! scripts/upgrade-check.sh, shows the same under load.)

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use restartable_tests::upgrade_load::{run, Config};

fn config(addr: SocketAddr, keep_alive: bool) -> Config {
    Config {
        addr,
        duration: Duration::from_millis(600),
        workers: 4,
        keep_alive,
        timeout: Duration::from_secs(2),
        until: None,
    }
}

#[test]
fn nothing_listening_is_refused() {
    let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    for keep_alive in [false, true] {
        let (tally, _, _) = run(&config(addr, keep_alive));
        assert!(tally.refused > 0, "{tally:?}");
        assert_eq!(tally.ok, 0, "{tally:?}");
        assert_eq!(tally.failed(), tally.refused, "{tally:?}");
    }
}

#[test]
fn a_listener_closed_with_a_queue_resets() {
    for keep_alive in [false, true] {
        // Never accepts: the workers' connections complete the handshake and
        // wait in its queue with their request sent, until it is closed.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
        let addr = listener.local_addr().expect("its address");
        let client = thread::spawn(move || run(&config(addr, keep_alive)));
        thread::sleep(Duration::from_millis(200));
        drop(listener);
        let (tally, _, _) = client.join().expect("the client");
        assert_eq!(tally.reset, 4, "one per worker: {tally:?}");
        assert_eq!(tally.ok, 0, "{tally:?}");
        assert_eq!(tally.reused_reset + tally.drain_closed(), 0, "{tally:?}");
    }
}
