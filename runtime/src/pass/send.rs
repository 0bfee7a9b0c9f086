//! Sending sockets to a process this one started (Windows): what the
//! supervisor passes to a service and an upgrade to its new process.

use std::fs::File;
use std::io::Write;
use std::os::windows::io::OwnedHandle;
use std::thread;

use socket2::Socket;

use super::wire::Record;
use crate::sys::process as sys;

/// Describes each socket for process `pid` (`WSADuplicateSocketW`) and
/// writes the records to `pipe`, then ends it, on a thread of its own: a
/// process that does not read (no function with `inherit`, or stuck before
/// one) must not stop this one. The thread ends once everything is read, or
/// with the pipe when the process ends. A socket that cannot be described
/// is logged and left out; `who` starts each log line.
pub(crate) fn send_sockets<'a>(
    who: &'static str,
    pid: u32,
    sockets: impl IntoIterator<Item = (Option<String>, &'a Socket)>,
    pipe: OwnedHandle,
) {
    let mut bytes = Vec::new();
    for (name, socket) in sockets {
        let record = sys::duplicate_for(socket, pid).and_then(|info| {
            Record {
                name: name.clone(),
                info,
            }
            .encode()
        });
        match record {
            Ok(record) => bytes.extend(record),
            Err(error) => crate::event!(
                error,
                "{who}: cannot pass the listener {name:?} to process {pid}: {error}"
            ),
        }
    }
    let written = thread::Builder::new()
        .name("restartable-pass".into())
        .spawn(move || {
            if let Err(error) = File::from(pipe).write_all(&bytes) {
                crate::event!(
                    warn,
                    "{who}: cannot pass the listeners to process {pid}: {error}"
                );
            }
        });
    if let Err(error) = written {
        crate::event!(
            error,
            "{who}: cannot pass the listeners to process {pid}: {error}"
        );
    }
}
