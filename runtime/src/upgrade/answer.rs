//! The request line and the answer lines of an upgrade request, the same on
//! every OS that takes requests (Linux and Android: an abstract Unix socket;
//! Windows: a named pipe). No OS call.

use std::io::{self, BufRead, Read};
use std::time::Duration;

use super::Upgraded;

/// The request.
pub(crate) const REQUEST: &str = "upgrade";

/// The longest request line a service reads.
pub(crate) const MOST_REQUEST_BYTES: u64 = 64;

/// The longest answer line a requester reads.
pub(crate) const MOST_ANSWER_BYTES: u64 = 4096;

/// How long a requester waits to connect and for the first answer, and a
/// service for the request line.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a requester waits for the outcome beyond the service's ready
/// timeout: the new process's start and the handover.
pub(crate) const START_MARGIN: Duration = Duration::from_secs(10);

/// One line from the service to the requester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The upgrade is under way; the outcome follows within the new
    /// process's ready timeout.
    Started { ready_timeout: Duration },
    /// The new process took over.
    Upgraded(Upgraded),
    /// No upgrade, or a failed one: the kind of the error, and why (one
    /// line).
    Error(io::ErrorKind, String),
}

/// The kinds an answer carries by name; any other is sent as `Other`.
const KINDS: &[(io::ErrorKind, &str)] = &[
    (io::ErrorKind::NotFound, "NotFound"),
    (io::ErrorKind::PermissionDenied, "PermissionDenied"),
    (io::ErrorKind::TimedOut, "TimedOut"),
    (io::ErrorKind::WouldBlock, "WouldBlock"),
    (io::ErrorKind::InvalidInput, "InvalidInput"),
    (io::ErrorKind::InvalidData, "InvalidData"),
    (io::ErrorKind::AlreadyExists, "AlreadyExists"),
    (io::ErrorKind::BrokenPipe, "BrokenPipe"),
    (io::ErrorKind::ConnectionReset, "ConnectionReset"),
    (io::ErrorKind::UnexpectedEof, "UnexpectedEof"),
    (io::ErrorKind::Unsupported, "Unsupported"),
    (io::ErrorKind::OutOfMemory, "OutOfMemory"),
    (io::ErrorKind::Other, "Other"),
];

impl Answer {
    /// The line, without its newline.
    pub(crate) fn encode(&self) -> String {
        match self {
            Answer::Started { ready_timeout } => {
                format!("started ready_timeout_ms={}", ready_timeout.as_millis())
            }
            Answer::Upgraded(upgraded) => {
                format!("ok pid={} generation={}", upgraded.pid, upgraded.generation)
            }
            Answer::Error(kind, why) => {
                let name = KINDS
                    .iter()
                    .find(|(known, _)| known == kind)
                    .map_or("Other", |(_, name)| name);
                format!("error {name} {}", why.replace(['\n', '\r'], " "))
            }
        }
    }

    /// A line read back; `None` when it is none of the answers.
    pub(crate) fn decode(line: &str) -> Option<Answer> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let value = |key: &str| {
            rest.split(' ')
                .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
        };
        match word {
            "started" => Some(Answer::Started {
                ready_timeout: Duration::from_millis(value("ready_timeout_ms")?.parse().ok()?),
            }),
            "ok" => Some(Answer::Upgraded(Upgraded {
                pid: value("pid")?.parse().ok()?,
                generation: value("generation")?.parse().ok()?,
            })),
            "error" => {
                let (name, why) = rest.split_once(' ').unwrap_or((rest, ""));
                let kind = KINDS
                    .iter()
                    .find(|(_, known)| *known == name)
                    .map_or(io::ErrorKind::Other, |(kind, _)| *kind);
                Some(Answer::Error(kind, why.to_owned()))
            }
            _ => None,
        }
    }
}

/// Reads one line of at most `most` bytes (the newline not included).
pub(crate) fn read_line(reader: &mut impl BufRead, most: u64) -> io::Result<String> {
    let mut line = Vec::new();
    reader.take(most + 1).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        return String::from_utf8(line).map_err(|_| not_text());
    }
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the other end closed the connection without a line",
        ));
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a line longer than {most} bytes, or not ended, came"),
    ))
}

fn not_text() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "a line that is not UTF-8 came")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_reads_back_as_itself() {
        for answer in [
            Answer::Started {
                ready_timeout: Duration::from_secs(30),
            },
            Answer::Upgraded(Upgraded {
                pid: 4_194_304,
                generation: u32::MAX,
            }),
            Answer::Error(
                io::ErrorKind::WouldBlock,
                "an upgrade is under way already".to_owned(),
            ),
            Answer::Error(io::ErrorKind::TimedOut, String::new()),
        ] {
            assert_eq!(Answer::decode(&answer.encode()), Some(answer.clone()));
        }
        // One line whatever the reason says.
        let folded = Answer::Error(io::ErrorKind::Other, "two\nlines".to_owned()).encode();
        assert_eq!(folded, "error Other two lines");
        // A kind without a name here is sent as Other.
        let unnamed = Answer::Error(io::ErrorKind::Interrupted, "why".to_owned()).encode();
        assert_eq!(
            Answer::decode(&unnamed),
            Some(Answer::Error(io::ErrorKind::Other, "why".to_owned()))
        );
        for garbage in [
            "",
            "ok",
            "ok pid=1",
            "started",
            "started ready_timeout_ms=x",
            "okay",
        ] {
            assert_eq!(Answer::decode(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_line_is_bounded_and_read_up_to_its_newline() {
        let long = [b'x'; 100];
        let error = read_line(&mut &long[..], 64).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            read_line(&mut &b"upgrade\nmore"[..], 64).unwrap(),
            "upgrade"
        );
        let error = read_line(&mut &b""[..], 64).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
