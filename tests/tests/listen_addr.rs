//! `ListenAddr`: a whole listen address from text (a `--listen` argument, a
//! configuration value), IP or Unix-domain; bad text is `InvalidInput`
//! naming the value; with serde, read and written as a string.
#![cfg(target_os = "linux")]

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::PathBuf;

use restartable::ListenAddr;

#[test]
fn ip_addresses_paths_and_abstract_names_parse_and_print_back() {
    let cases = [
        (
            "127.0.0.1:8080",
            ListenAddr::Ip("127.0.0.1:8080".parse().unwrap()),
        ),
        ("[::1]:0", ListenAddr::Ip("[::1]:0".parse().unwrap())),
        (
            "[fe80::1%2]:80",
            ListenAddr::Ip("[fe80::1%2]:80".parse().unwrap()),
        ),
        (
            "/run/app/app.sock",
            ListenAddr::Path(PathBuf::from("/run/app/app.sock")),
        ),
        ("./app.sock", ListenAddr::Path(PathBuf::from("./app.sock"))),
        ("@app", ListenAddr::Abstract(b"app".to_vec())),
    ];
    for (text, expected) in cases {
        let parsed: ListenAddr = text.parse().unwrap();
        assert_eq!(parsed, expected, "{text}");
        assert_eq!(parsed.to_string(), text);
    }
    if let ListenAddr::Ip(SocketAddr::V6(v6)) = "[fe80::1%2]:80".parse().unwrap() {
        assert_eq!(v6.scope_id(), 2);
    } else {
        panic!("not an IPv6 address");
    }
}

#[test]
fn bad_text_is_invalid_input_naming_the_value() {
    for (text, hint) in [
        ("localhost:8080", "host names are not resolved"),
        ("127.0.0.1", "it has no port"),
        ("app.sock", "not an address"),
        ("", "not an address"),
    ] {
        let error = text.parse::<ListenAddr>().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
        assert_eq!(
            error.to_string(),
            format!(
                "invalid listen address {text:?}: expected host:port such as 127.0.0.1:8080 or \
                 [::1]:8080, a socket path such as /run/app.sock, or @name; {hint}"
            )
        );
    }
    let long = format!("/tmp/{}", "x".repeat(120));
    let error = long.parse::<ListenAddr>().unwrap_err();
    assert!(error.to_string().contains("at most 107 bytes"), "{error}");
}

#[test]
fn serde_reads_and_writes_the_text() {
    let parsed: ListenAddr = serde_json::from_str("\"[::1]:8080\"").unwrap();
    assert_eq!(parsed, ListenAddr::Ip("[::1]:8080".parse().unwrap()));
    let error = serde_json::from_str::<ListenAddr>("\"nowhere\"").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid listen address \"nowhere\""),
        "{error}"
    );
    let written = serde_json::to_string(&ListenAddr::Path(PathBuf::from("/run/app.sock"))).unwrap();
    assert_eq!(written, "\"/run/app.sock\"");
}

/// The index the kernel gave the loopback interface in this network
/// namespace, read from sysfs rather than by the call under test.
fn loopback_index() -> u32 {
    std::fs::read_to_string("/sys/class/net/lo/ifindex")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_scope_id_given_by_interface_name_is_resolved_to_its_index() {
    // Control: the numeric scope id std parses.
    let numeric: ListenAddr = format!("[fe80::1%{}]:8080", loopback_index())
        .parse()
        .unwrap();
    let named: ListenAddr = "[fe80::1%lo]:8080".parse().unwrap();
    assert_eq!(named, numeric);
    match named {
        ListenAddr::Ip(SocketAddr::V6(v6)) => {
            assert_eq!(v6.scope_id(), loopback_index());
            assert_eq!(v6.port(), 8080);
        }
        other => panic!("not an IPv6 address: {other:?}"),
    }
    // Printed with the index: the text parses back to the same address.
    assert_eq!(named.to_string().parse::<ListenAddr>().unwrap(), named);
}

#[test]
fn an_unknown_interface_is_invalid_input_naming_it_and_the_value() {
    let text = "[fe80::1%restartable-no]:8080";
    let error = text.parse::<ListenAddr>().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "invalid listen address {text:?}: no network interface is named \"restartable-no\" \
             (the scope id of an IPv6 address is an interface's name or index)"
        )
    );
}

/// What `Display` cannot show as it is (bytes that are not UTF-8, control
/// characters, a backslash, a relative path without a `/`) it writes
/// escaped, or after `./`, as text that reads back as the same address;
/// serde writes the same text.
#[test]
fn any_path_or_name_is_written_as_text_that_reads_back_the_same() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let cases = [
        (
            ListenAddr::Path(PathBuf::from(OsStr::from_bytes(b"/run/app-\xff.sock"))),
            "/run/app-\\xff.sock",
        ),
        (
            ListenAddr::Path(PathBuf::from("/run/a\\b\n.sock")),
            "/run/a\\\\b\\n.sock",
        ),
        (ListenAddr::Path(PathBuf::from("app.sock")), "./app.sock"),
        (ListenAddr::Path(PathBuf::from("@app")), "./@app"),
        (
            ListenAddr::Path(PathBuf::from("127.0.0.1:80")),
            "./127.0.0.1:80",
        ),
        (
            ListenAddr::Abstract(b"app-\xff\0".to_vec()),
            "@app-\\xff\\x00",
        ),
    ];
    for (addr, text) in cases {
        assert_eq!(addr.to_string(), text);
        assert_eq!(text.parse::<ListenAddr>().unwrap(), addr, "{text}");
        let written = serde_json::to_string(&addr).unwrap();
        assert_eq!(written, serde_json::to_string(text).unwrap());
        assert_eq!(serde_json::from_str::<ListenAddr>(&written).unwrap(), addr);
    }
    // `app.sock` and `./app.sock` are one address: the same file for bind.
    assert_eq!(
        ListenAddr::Path(PathBuf::from("app.sock")),
        ListenAddr::Path(PathBuf::from("./app.sock"))
    );
}

/// `--listen 127.0.0.1:0` and `--listen /path/app.sock` with the same code:
/// text, then `bind`, then `accept` and write, whatever the address is.
#[cfg(unix)]
#[test]
fn text_to_listener_is_one_call_and_the_same_code_for_ip_and_path() {
    use std::io::{Read, Write};
    let dir = std::env::temp_dir().join(format!("restartable-listen-any-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    for text in ["127.0.0.1:0".to_owned(), path.display().to_string()] {
        let listener = text.parse::<ListenAddr>().unwrap().bind().unwrap();
        let local = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut reply = String::new();
            match local {
                ListenAddr::Ip(addr) => std::net::TcpStream::connect(addr)
                    .unwrap()
                    .read_to_string(&mut reply),
                ListenAddr::Path(path) => std::os::unix::net::UnixStream::connect(path)
                    .unwrap()
                    .read_to_string(&mut reply),
                other => panic!("{other}"),
            }
            .unwrap();
            reply
        });
        let mut stream = listener.accept().unwrap();
        stream.write_all(b"hello").unwrap();
        drop(stream);
        assert_eq!(client.join().unwrap(), "hello", "{text}");
        match (&listener, text.starts_with('/')) {
            (restartable::Listener::Unix(_), true) | (restartable::Listener::Tcp(_), false) => {}
            (other, _) => panic!("{text} made {other:?}"),
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// An abstract name with a control character, given as it is or escaped,
/// is that name, and prints escaped.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn an_abstract_name_with_a_control_character_is_printed_escaped() {
    for text in ["@app\u{0}x", "@app\\x00x"] {
        let parsed: ListenAddr = text.parse().unwrap();
        assert_eq!(parsed, ListenAddr::Abstract(b"app\0x".to_vec()));
        assert_eq!(parsed.to_string(), "@app\\x00x");
    }
    // A backslash that starts no escape is refused, naming it.
    let error = "@app\\q".parse::<ListenAddr>().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(
        error
            .to_string()
            .starts_with("invalid listen address \"@app\\\\q\": \\q is not an escape; "),
        "{error}"
    );
}
