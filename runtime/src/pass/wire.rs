//! What passes between the processes on Windows, as bytes and text, with no
//! OS call: the variable that tells a process where its sockets come from,
//! the records of the sockets on the pipes, and the command line and
//! environment of the process started. Compiled and unit-tested on every
//! target.

use std::io;

/// The variable: `v=1,parent=PID,take=HANDLE,store=HANDLE`.
pub(crate) const RESTARTABLE_SOCKETS: &str = "RESTARTABLE_SOCKETS";

/// The fields of [`RESTARTABLE_SOCKETS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Vars {
    /// The process that started this one and set the variable: the
    /// variable is this process's only when its parent is that process.
    pub(crate) parent: u32,
    /// The inherited handle of a pipe's read end that carries the sockets
    /// passed to this process, as records, up to its end.
    pub(crate) take: Option<usize>,
    /// The inherited handle of a pipe's write end where this process sends
    /// a record for each listener it makes, for the keeper to keep.
    pub(crate) store: Option<usize>,
    /// The process that made the store pipe and keeps the listeners: the
    /// parent, or (in a process an upgrade started under a supervisor) the
    /// supervisor.
    pub(crate) keeper: Option<u32>,
}

impl Vars {
    pub(crate) fn format(&self) -> String {
        let take = self.take.map(|take| format!(",take={take}"));
        let store = self.store.map(|store| format!(",store={store}"));
        let keeper = self.keeper.map(|keeper| format!(",keeper={keeper}"));
        format!(
            "v=1,parent={}{}{}{}",
            self.parent,
            take.unwrap_or_default(),
            store.unwrap_or_default(),
            keeper.unwrap_or_default()
        )
    }

    /// The `parent=` field of a value, however the rest of it reads: whose
    /// the variable is, decided before it is read whole.
    pub(crate) fn parent_of(value: &str) -> Option<u32> {
        value
            .split(',')
            .find_map(|field| field.strip_prefix("parent="))
            .and_then(|pid| pid.parse().ok())
    }

    /// The variable's value read; an error names the variable and the value.
    pub(crate) fn parse(value: &str) -> io::Result<Vars> {
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "environment variable {RESTARTABLE_SOCKETS} is {value:?}: {why}; expected \
                     v=1,parent=PID[,take=HANDLE][,store=HANDLE][,keeper=PID]"
                ),
            )
        };
        let mut fields = value.split(',');
        if fields.next() != Some("v=1") {
            return Err(invalid("not version 1"));
        }
        let mut parent = None;
        let mut take = None;
        let mut store = None;
        let mut keeper = None;
        for field in fields {
            let (key, number) = field
                .split_once('=')
                .ok_or_else(|| invalid(&format!("{field:?} is not KEY=NUMBER")))?;
            let number: u64 = number
                .parse()
                .ok()
                .filter(|&n| n != 0)
                .ok_or_else(|| invalid(&format!("{key} is not a positive number")))?;
            let slot = match key {
                "parent" => &mut parent,
                "take" => &mut take,
                "store" => &mut store,
                "keeper" => &mut keeper,
                _ => return Err(invalid(&format!("unknown field {key:?}"))),
            };
            if slot.replace(number).is_some() {
                return Err(invalid(&format!("{key} is given twice")));
            }
        }
        let parent = parent.ok_or_else(|| invalid("parent is missing"))?;
        if take.is_some() && take == store {
            return Err(invalid("take and store are the same handle"));
        }
        let parent = u32::try_from(parent).map_err(|_| invalid("parent is not a process id"))?;
        let handle = |value: Option<u64>, key: &str| {
            value
                .map(|v| usize::try_from(v).map_err(|_| invalid(&format!("{key} is too large"))))
                .transpose()
        };
        let keeper = keeper
            .map(|k| u32::try_from(k).map_err(|_| invalid("keeper is not a process id")))
            .transpose()?;
        Ok(Vars {
            parent,
            take: handle(take, "take")?,
            store: handle(store, "store")?,
            keeper,
        })
    }
}

/// `RESTARTABLE_UPGRADE` on Windows: `v=1,parent=PID,generation=G,
/// ready=HANDLE,commit=HANDLE`. The new process writes `R` on `ready` once
/// it is ready; the old one answers `C` on `commit` once it has stopped
/// accepting and let the new process outlive it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UpgradeVars {
    pub(crate) parent: u32,
    pub(crate) generation: u32,
    pub(crate) ready: usize,
    pub(crate) commit: usize,
}

impl UpgradeVars {
    pub(crate) fn format(&self) -> String {
        format!(
            "v=1,parent={},generation={},ready={},commit={}",
            self.parent, self.generation, self.ready, self.commit
        )
    }

    /// The `parent=` field, however the rest reads.
    pub(crate) fn parent_of(value: &str) -> Option<u32> {
        Vars::parent_of(value)
    }

    /// The value read; an error names the variable (`name`) and the value.
    pub(crate) fn parse(name: &str, value: &str) -> io::Result<UpgradeVars> {
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "environment variable {name} is {value:?}; expected \
                     v=1,parent=PID,generation=N,ready=HANDLE,commit=HANDLE"
                ),
            )
        };
        let mut fields = value.split(',');
        if fields.next() != Some("v=1") {
            return Err(invalid());
        }
        let mut numbers = [None; 4];
        for field in fields {
            let (key, number) = field.split_once('=').ok_or_else(invalid)?;
            let index = ["parent", "generation", "ready", "commit"]
                .iter()
                .position(|k| *k == key)
                .ok_or_else(invalid)?;
            let number: u64 = number.parse().map_err(|_| invalid())?;
            if numbers[index].replace(number).is_some() {
                return Err(invalid());
            }
        }
        let [Some(parent), Some(generation), Some(ready), Some(commit)] = numbers else {
            return Err(invalid());
        };
        let vars = UpgradeVars {
            parent: u32::try_from(parent).map_err(|_| invalid())?,
            generation: u32::try_from(generation).map_err(|_| invalid())?,
            ready: usize::try_from(ready).map_err(|_| invalid())?,
            commit: usize::try_from(commit).map_err(|_| invalid())?,
        };
        if vars.parent == 0 || vars.ready == 0 || vars.commit == 0 || vars.ready == vars.commit {
            return Err(invalid());
        }
        Ok(vars)
    }
}

/// What the store pipe carries: a listener's record, or (from a service an
/// upgrade replaces) the id of the process that serves from now on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    Socket(Record),
    /// `RSM1` and the process id (u32, little-endian).
    Main(u32),
}

const MAIN_MAGIC: &[u8; 4] = b"RSM1";

impl Message {
    pub(crate) fn encode_main(pid: u32) -> Vec<u8> {
        [MAIN_MAGIC.as_slice(), &pid.to_le_bytes()].concat()
    }

    /// The first message of `bytes` and its length; `None` when only its
    /// start is there.
    pub(crate) fn decode(bytes: &[u8]) -> io::Result<Option<(Message, usize)>> {
        let prefix = &bytes[..bytes.len().min(4)];
        if MAIN_MAGIC.starts_with(prefix) && !MAGIC.starts_with(prefix) {
            let Some(pid) = bytes.get(4..8) else {
                return Ok(None);
            };
            let pid = u32::from_le_bytes([pid[0], pid[1], pid[2], pid[3]]);
            return Ok(Some((Message::Main(pid), 8)));
        }
        if bytes.len() < 4 && MAIN_MAGIC.starts_with(prefix) {
            return Ok(None);
        }
        Ok(Record::decode(bytes)?.map(|(record, used)| (Message::Socket(record), used)))
    }
}

/// One passed socket: its name, and `WSADuplicateSocketW`'s description of
/// it for the receiving process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) name: Option<String>,
    pub(crate) info: Vec<u8>,
}

const MAGIC: &[u8; 4] = b"RSK1";
/// The length field's value for a socket without a name.
const UNNAMED: u16 = u16::MAX;
/// The longest name (systemd's limit for a file descriptor name).
pub(crate) const MAX_NAME: usize = 255;
/// The longest description taken (a `WSAPROTOCOL_INFOW` is 628 bytes).
const MAX_INFO: usize = 4096;

impl Record {
    /// `RSK1`, the name's length (u16, little-endian; 0xFFFF: no name), the
    /// name in UTF-8, the description's length (u32), the description.
    pub(crate) fn encode(&self) -> io::Result<Vec<u8>> {
        let name = self.name.as_deref().map(str::as_bytes);
        let name_length = name.map(|n| u16::try_from(n.len()).unwrap_or(u16::MAX));
        let info_length = u32::try_from(self.info.len()).unwrap_or(u32::MAX);
        if name.is_some_and(|n| n.len() > MAX_NAME) || self.info.len() > MAX_INFO {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a passed socket's name is at most {MAX_NAME} bytes and its description at \
                     most {MAX_INFO}"
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(10 + name.map_or(0, <[u8]>::len) + self.info.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&name_length.unwrap_or(UNNAMED).to_le_bytes());
        bytes.extend_from_slice(name.unwrap_or_default());
        bytes.extend_from_slice(&info_length.to_le_bytes());
        bytes.extend_from_slice(&self.info);
        Ok(bytes)
    }

    /// The first record of `bytes` and the number of bytes it took, or
    /// `None` when `bytes` holds only the start of one. Anything that is not
    /// a record is `InvalidData`.
    pub(crate) fn decode(bytes: &[u8]) -> io::Result<Option<(Record, usize)>> {
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a passed socket's record is malformed: {why}"),
            )
        };
        if bytes.len() < MAGIC.len() {
            return if MAGIC.starts_with(bytes) {
                Ok(None)
            } else {
                Err(invalid("it does not start with RSK1"))
            };
        }
        if &bytes[..4] != MAGIC {
            return Err(invalid("it does not start with RSK1"));
        }
        let Some(length) = bytes.get(4..6) else {
            return Ok(None);
        };
        let length = u16::from_le_bytes([length[0], length[1]]);
        let (name, mut at) = if length == UNNAMED {
            (None, 6)
        } else {
            let length = usize::from(length);
            if length > MAX_NAME {
                return Err(invalid(&format!("a name of {length} bytes")));
            }
            let Some(name) = bytes.get(6..6 + length) else {
                return Ok(None);
            };
            let name = std::str::from_utf8(name).map_err(|_| invalid("a name not in UTF-8"))?;
            (Some(name.to_owned()), 6 + length)
        };
        let Some(length) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        if length > MAX_INFO {
            return Err(invalid(&format!("a description of {length} bytes")));
        }
        at += 4;
        let Some(info) = bytes.get(at..at + length) else {
            return Ok(None);
        };
        Ok(Some((
            Record {
                name,
                info: info.to_vec(),
            },
            at + length,
        )))
    }

    /// Every record of `bytes`, which must end where a record ends.
    pub(crate) fn decode_all(mut bytes: &[u8]) -> io::Result<Vec<Record>> {
        let mut records = Vec::new();
        while !bytes.is_empty() {
            match Record::decode(bytes)? {
                Some((record, used)) => {
                    records.push(record);
                    bytes = &bytes[used..];
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "a passed socket's record is cut short after {} bytes",
                            bytes.len()
                        ),
                    ))
                }
            }
        }
        Ok(records)
    }
}

/// The command line of `CreateProcessW`, NUL-terminated: the program in
/// quotes, then each argument quoted as the Microsoft C runtime and
/// `CommandLineToArgvW` read it back (Microsoft, "Parsing C command-line
/// arguments"): an argument with a space, a tab, a newline or a quote, or
/// an empty one, is quoted; backslashes are doubled only before a quote.
pub(crate) fn command_line(program: &[u16], args: &[Vec<u16>]) -> io::Result<Vec<u16>> {
    const QUOTE: u16 = b'"' as u16;
    const BACKSLASH: u16 = b'\\' as u16;
    if program.contains(&QUOTE) || program.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the program's path holds a quote or a NUL",
        ));
    }
    let mut line = vec![QUOTE];
    line.extend_from_slice(program);
    line.push(QUOTE);
    for arg in args {
        if arg.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an argument holds a NUL",
            ));
        }
        line.push(u16::from(b' '));
        let plain = !arg.is_empty()
            && !arg.iter().any(|&c| {
                c == QUOTE || c == u16::from(b' ') || c == u16::from(b'\t') || c == u16::from(b'\n')
            });
        if plain {
            line.extend_from_slice(arg);
            continue;
        }
        line.push(QUOTE);
        let mut backslashes = 0;
        for &c in arg {
            if c == BACKSLASH {
                backslashes += 1;
                continue;
            }
            let doubled = if c == QUOTE {
                2 * backslashes + 1
            } else {
                backslashes
            };
            line.extend(std::iter::repeat(BACKSLASH).take(doubled));
            line.push(c);
            backslashes = 0;
        }
        line.extend(std::iter::repeat(BACKSLASH).take(2 * backslashes));
        line.push(QUOTE);
    }
    line.push(0);
    Ok(line)
}

/// An environment block for `CreateProcessW` (`CREATE_UNICODE_ENVIRONMENT`):
/// `vars` with each name of `set` replaced (names compared without case,
/// as Windows compares them), sorted by name without case, each
/// `NAME=VALUE` ended by a NUL, and one NUL more at the end.
pub(crate) fn environment_block(
    vars: impl IntoIterator<Item = (Vec<u16>, Vec<u16>)>,
    set: &[(Vec<u16>, Vec<u16>)],
) -> io::Result<Vec<u16>> {
    fn folded(name: &[u16]) -> Vec<u16> {
        name.iter()
            .map(|&c| {
                if (u16::from(b'a')..=u16::from(b'z')).contains(&c) {
                    c - 32
                } else {
                    c
                }
            })
            .collect()
    }
    let mut all: Vec<(Vec<u16>, Vec<u16>)> = vars
        .into_iter()
        .filter(|(name, _)| !set.iter().any(|(s, _)| folded(s) == folded(name)))
        .chain(set.iter().cloned())
        .collect();
    for (name, value) in &all {
        if name.is_empty()
            || name.contains(&0)
            || name[1..].contains(&u16::from(b'='))
            || value.contains(&0)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "environment variable {:?} cannot be passed on",
                    String::from_utf16_lossy(name)
                ),
            ));
        }
    }
    all.sort_by_key(|(name, _)| folded(name));
    let mut block = Vec::new();
    for (name, value) in all {
        block.extend(name);
        block.push(u16::from(b'='));
        block.extend(value);
        block.push(0);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    #[test]
    fn the_variable_round_trips_and_names_itself_when_wrong() {
        let vars = Vars {
            parent: 4242,
            take: Some(0x1a4),
            store: Some(8),
            keeper: None,
        };
        assert_eq!(vars.format(), "v=1,parent=4242,take=420,store=8");
        let kept = Vars {
            keeper: Some(7),
            ..vars
        };
        assert_eq!(kept.format(), "v=1,parent=4242,take=420,store=8,keeper=7");
        assert_eq!(Vars::parse(&kept.format()).unwrap(), kept);
        assert_eq!(Vars::parse(&vars.format()).unwrap(), vars);
        assert_eq!(Vars::parent_of("v=9,parent=12,what=ever"), Some(12));
        assert_eq!(Vars::parent_of("v=1,take=3"), None);
        assert_eq!(Vars::parent_of("parent=x"), None);
        let only = Vars::parse("v=1,parent=7").unwrap();
        assert_eq!((only.take, only.store), (None, None));
        for bad in [
            "",
            "v=2,parent=1",
            "v=1",
            "v=1,parent=0",
            "v=1,parent=x",
            "v=1,parent=1,parent=2",
            "v=1,parent=1,pipe=3",
            "v=1,parent=99999999999",
            "v=1,parent=1,take",
            "v=1,parent=1,take=8,store=8",
        ] {
            let error = Vars::parse(bad).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(error.to_string().contains(RESTARTABLE_SOCKETS), "{error}");
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn the_upgrade_variable_round_trips_and_names_itself_when_wrong() {
        let vars = UpgradeVars {
            parent: 9,
            generation: 3,
            ready: 400,
            commit: 404,
        };
        assert_eq!(
            vars.format(),
            "v=1,parent=9,generation=3,ready=400,commit=404"
        );
        assert_eq!(UpgradeVars::parse("X", &vars.format()).unwrap(), vars);
        for bad in [
            "v=1,parent=9,generation=3,ready=4",
            "v=1,parent=9,generation=3,ready=4,commit=4",
            "v=2,parent=9,generation=3,ready=4,commit=5",
            "v=1,parent=0,generation=3,ready=4,commit=5",
            "v=1,parent=9,generation=x,ready=4,commit=5",
            "v=1,parent=9,generation=3,ready=4,commit=5,extra=1",
        ] {
            let error = UpgradeVars::parse("RESTARTABLE_UPGRADE", bad).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(error.to_string().contains("RESTARTABLE_UPGRADE"), "{error}");
        }
    }

    #[test]
    fn records_round_trip_one_by_one_and_in_a_stream() {
        let records = vec![
            Record {
                name: Some("http".into()),
                info: vec![7; 628],
            },
            Record {
                name: None,
                info: vec![1, 2, 3],
            },
            Record {
                name: Some(String::new()),
                info: Vec::new(),
            },
        ];
        let mut stream = Vec::new();
        for record in &records {
            stream.extend(record.encode().unwrap());
        }
        assert_eq!(Record::decode_all(&stream).unwrap(), records);
        // Every cut before the first record's end is "not yet".
        let first = records[0].encode().unwrap();
        for cut in 0..first.len() {
            assert_eq!(Record::decode(&first[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(
            Record::decode(&stream).unwrap(),
            Some((records[0].clone(), first.len()))
        );
        let error = Record::decode_all(&stream[..stream.len() - 1]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn messages_carry_records_and_the_main_process() {
        let record = Record {
            name: Some("http".into()),
            info: vec![1; 10],
        };
        let mut stream = Message::encode_main(4321);
        stream.extend(record.encode().unwrap());
        let (first, used) = Message::decode(&stream).unwrap().unwrap();
        assert_eq!((first, used), (Message::Main(4321), 8));
        let (second, _) = Message::decode(&stream[8..]).unwrap().unwrap();
        assert_eq!(second, Message::Socket(record));
        for cut in 0..8 {
            assert_eq!(
                Message::decode(&stream[..cut]).unwrap(),
                None,
                "cut at {cut}"
            );
        }
        assert!(Message::decode(b"RSX1....").is_err());
    }

    #[test]
    fn what_is_not_a_record_is_refused() {
        for bad in [
            b"RSK2\xff\xff\0\0\0\0".to_vec(),
            b"X".to_vec(),
            [b"RSK1".as_slice(), &300u16.to_le_bytes()].concat(),
            [
                b"RSK1".as_slice(),
                &1u16.to_le_bytes(),
                b"\xff",
                &0u32.to_le_bytes(),
            ]
            .concat(),
            [
                b"RSK1".as_slice(),
                &UNNAMED.to_le_bytes(),
                &5000u32.to_le_bytes(),
            ]
            .concat(),
        ] {
            let error = Record::decode(&bad).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{bad:?}");
        }
        let long = Record {
            name: Some("n".repeat(MAX_NAME + 1)),
            info: Vec::new(),
        };
        assert_eq!(
            long.encode().unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    /// What `CommandLineToArgvW` gives back for each argument: the rules of
    /// Microsoft's "Parsing C command-line arguments", as a reference.
    fn parse_back(line: &[u16]) -> Vec<String> {
        let text = String::from_utf16(&line[..line.len() - 1]).unwrap();
        let mut chars = text.chars().peekable();
        let mut args = Vec::new();
        // The program: up to the closing quote.
        assert_eq!(chars.next(), Some('"'));
        args.push(chars.by_ref().take_while(|&c| c != '"').collect::<String>());
        loop {
            while chars.peek() == Some(&' ') || chars.peek() == Some(&'\t') {
                chars.next();
            }
            if chars.peek().is_none() {
                return args;
            }
            let mut arg = String::new();
            let mut quoted = false;
            loop {
                let mut backslashes = 0;
                while chars.peek() == Some(&'\\') {
                    chars.next();
                    backslashes += 1;
                }
                match chars.peek() {
                    Some('"') => {
                        arg.extend(std::iter::repeat('\\').take(backslashes / 2));
                        chars.next();
                        if backslashes % 2 == 1 {
                            arg.push('"');
                        } else {
                            quoted = !quoted;
                        }
                    }
                    Some(&c) if !quoted && (c == ' ' || c == '\t') => {
                        arg.extend(std::iter::repeat('\\').take(backslashes));
                        break;
                    }
                    None => {
                        arg.extend(std::iter::repeat('\\').take(backslashes));
                        break;
                    }
                    Some(&c) => {
                        arg.extend(std::iter::repeat('\\').take(backslashes));
                        arg.push(c);
                        chars.next();
                    }
                }
            }
            args.push(arg);
        }
    }

    #[test]
    fn each_argument_comes_back_as_it_was() {
        let args = [
            "plain",
            "",
            "two words",
            "tab\there",
            r#"say "hi""#,
            r"C:\path\",
            r"C:\path with space\",
            r#"\\"\\"#,
            r"a\\b",
            "ünïcode ✓",
            "--listen=127.0.0.1:80",
        ];
        let wide_args: Vec<Vec<u16>> = args.iter().map(|a| wide(a)).collect();
        let line = command_line(&wide(r"C:\Program Files\svc.exe"), &wide_args).unwrap();
        assert_eq!(line.last(), Some(&0));
        let back = parse_back(&line);
        assert_eq!(back[0], r"C:\Program Files\svc.exe");
        assert_eq!(&back[1..], &args[..]);
        assert_eq!(
            command_line(&wide("a\"b"), &[]).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            command_line(&wide("a"), &[vec![0]]).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn the_environment_is_replaced_without_case_and_sorted() {
        let vars = vec![
            (wide("Path"), wide(r"C:\bin")),
            (wide("restartable_sockets"), wide("stale")),
            (wide("=C:"), wide(r"C:\")),
            (wide("ALPHA"), wide("1")),
        ];
        let block =
            environment_block(vars, &[(wide(RESTARTABLE_SOCKETS), wide("v=1,parent=5"))]).unwrap();
        let text = String::from_utf16(&block).unwrap();
        assert_eq!(
            text,
            "=C:=C:\\\0ALPHA=1\0Path=C:\\bin\0RESTARTABLE_SOCKETS=v=1,parent=5\0\0"
        );
        assert_eq!(environment_block(Vec::new(), &[]).unwrap(), vec![0, 0]);
        let error = environment_block(vec![(wide("A=B"), wide("c"))], &[]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
