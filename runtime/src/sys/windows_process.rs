//! The raw Windows calls of passing a socket to another process and of
//! running the service as a child: `WSADuplicateSocketW` and
//! `WSASocketW(FROM_PROTOCOL_INFO)`, anonymous pipes, `CreateProcessW` with
//! an explicit handle list, job objects, the parent's process id, and the
//! console's stop events.
//!
//! Sources (Microsoft Learn): "WSADuplicateSocketW function (winsock2.h)",
//! "WSASocketW function (winsock2.h)", "Shared Sockets", "CreatePipe",
//! "UpdateProcThreadAttribute" (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), "Job
//! Objects", "JOBOBJECT_BASIC_LIMIT_INFORMATION"
//! (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE), "Process32FirstW",
//! "SetConsoleCtrlHandler", "HandlerRoutine callback function".

use std::ffi::OsStr;
use std::io;
use std::mem::{size_of, size_of_val, zeroed};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{
    AsHandle, AsRawHandle, AsRawSocket, BorrowedHandle, FromRawHandle, FromRawSocket, OwnedHandle,
    RawHandle,
};
use std::path::Path;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::Socket;
use windows_sys::core::BOOL;
use windows_sys::Win32::Foundation::{
    DuplicateHandle, LocalFree, SetHandleInformation, DUPLICATE_SAME_ACCESS, ERROR_PIPE_BUSY,
    ERROR_PIPE_CONNECTED, FILETIME, GENERIC_READ, GENERIC_WRITE, HANDLE, HANDLE_FLAG_INHERIT,
    INVALID_HANDLE_VALUE, STILL_ACTIVE, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Networking::WinSock::{
    getsockopt, WSADuplicateSocketW, WSAGetLastError, WSASocketW, WSAStartup, FROM_PROTOCOL_INFO,
    INVALID_SOCKET, SOCKET, SOL_SOCKET, SO_TYPE, WSADATA, WSAPROTOCOL_INFOW,
    WSA_FLAG_NO_HANDLE_INHERIT, WSA_FLAG_OVERLAPPED,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, TokenUser, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, OPEN_EXISTING, PIPE_ACCESS_DUPLEX,
    SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::Storage::FileSystem::{GetFileType, FILE_TYPE_PIPE};
use windows_sys::Win32::System::Console::{
    GetStdHandle, SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_C_EVENT,
    CTRL_SHUTDOWN_EVENT, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, CreatePipe, DisconnectNamedPipe,
    GetNamedPipeClientProcessId, GetNamedPipeServerProcessId, WaitNamedPipeW,
    PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::{
    CreateProcessW, DeleteProcThreadAttributeList, GetCurrentProcess, GetExitCodeProcess,
    GetProcessTimes, InitializeProcThreadAttributeList, OpenProcess, OpenProcessToken,
    ResumeThread, UpdateProcThreadAttribute, WaitForSingleObject, CREATE_SUSPENDED,
    CREATE_UNICODE_ENVIRONMENT, EXTENDED_STARTUPINFO_PRESENT, PROCESS_INFORMATION,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
    STARTF_USESTDHANDLES, STARTUPINFOEXW,
};
use windows_sys::Win32::System::IO::CancelIoEx;

/// The size of the `WSAPROTOCOL_INFOW` that describes a duplicated socket.
pub(crate) const PROTOCOL_INFO_LEN: usize = size_of::<WSAPROTOCOL_INFOW>();

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

fn check(ok: BOOL) -> io::Result<()> {
    if ok == 0 {
        Err(last_error())
    } else {
        Ok(())
    }
}

/// `WSADuplicateSocketW`: the description of `socket` for process `pid`,
/// which makes its own socket of it with [`socket_from_info`]. The socket
/// is the same one (one queue, one binding, its options kept): nothing is
/// bound again.
pub(crate) fn duplicate_for(socket: &Socket, pid: u32) -> io::Result<Vec<u8>> {
    #[allow(unsafe_code)]
    // SAFETY: an all-zero WSAPROTOCOL_INFOW is a valid value of the plain
    // C struct; the call writes into it; `socket` is open for the call.
    let (result, info) = unsafe {
        let mut info: WSAPROTOCOL_INFOW = zeroed();
        let result = WSADuplicateSocketW(socket.as_raw_socket() as usize, pid, &mut info);
        (result, info)
    };
    if result != 0 {
        #[allow(unsafe_code)]
        // SAFETY: reads this thread's last Winsock error only.
        let code = unsafe { WSAGetLastError() };
        return Err(io::Error::from_raw_os_error(code));
    }
    #[allow(unsafe_code)]
    // SAFETY: `info` is a live, initialized plain struct of exactly
    // PROTOCOL_INFO_LEN bytes, read as bytes only while it lives.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&info as *const WSAPROTOCOL_INFOW).cast::<u8>(),
            PROTOCOL_INFO_LEN,
        )
    };
    Ok(bytes.to_vec())
}

/// `WSASocketW(FROM_PROTOCOL_INFO, …)`: the socket another process
/// described for this one with `WSADuplicateSocketW`, owned here, not
/// inheritable. A description not meant for this process, or already used,
/// is an error of Winsock's (on paper: Microsoft says a description can be
/// used once, by the process it names).
pub(crate) fn socket_from_info(info: &[u8]) -> io::Result<Socket> {
    let socket = raw_socket_from_info(info)?;
    #[allow(unsafe_code)]
    // SAFETY: WSASocketW just made this socket from a description that the
    // process that started this one wrote for it; nothing else owns it.
    Ok(unsafe { Socket::from_raw_socket(socket as _) })
}

/// `WSASocketW(FROM_PROTOCOL_INFO, …)`, overlapped and not inheritable: the
/// raw socket, owned by nobody yet.
fn raw_socket_from_info(info: &[u8]) -> io::Result<SOCKET> {
    winsock_started()?;
    if info.len() != PROTOCOL_INFO_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a socket's description is {} bytes; expected {PROTOCOL_INFO_LEN}",
                info.len()
            ),
        ));
    }
    #[allow(unsafe_code)]
    // SAFETY: `info` holds exactly one WSAPROTOCOL_INFOW's bytes, copied
    // into an aligned value (every bit pattern is valid for the plain C
    // struct); WSASocketW only reads it.
    let socket = unsafe {
        let mut value: WSAPROTOCOL_INFOW = zeroed();
        std::ptr::copy_nonoverlapping(
            info.as_ptr(),
            (&mut value as *mut WSAPROTOCOL_INFOW).cast::<u8>(),
            PROTOCOL_INFO_LEN,
        );
        WSASocketW(
            FROM_PROTOCOL_INFO,
            FROM_PROTOCOL_INFO,
            FROM_PROTOCOL_INFO,
            &value,
            0,
            WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT,
        )
    };
    if socket == INVALID_SOCKET {
        #[allow(unsafe_code)]
        // SAFETY: reads this thread's last Winsock error only.
        let code = unsafe { WSAGetLastError() };
        return Err(io::Error::from_raw_os_error(code));
    }
    Ok(socket)
}

/// [`socket_from_info`] for a description from a process this one does not
/// trust with its own handles (a service, to its supervisor): Winsock (Wine's
/// at least, dlls/ws2_32) makes the socket from a handle value written in
/// the description, so a forged one could name a handle this process owns
/// already. A value in `held` (the sockets this process owns), or one that
/// is no socket, is refused and left alone, never closed.
pub(crate) fn socket_from_untrusted_info(info: &[u8], held: &[usize]) -> io::Result<Socket> {
    let socket = raw_socket_from_info(info)?;
    let refused = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a passed socket's description names {why}; it was left alone"),
        ))
    };
    if held.contains(&socket) {
        return refused("a socket this process holds already");
    }
    let mut socket_type = 0i32;
    let mut length = size_of::<i32>() as i32;
    #[allow(unsafe_code)]
    // SAFETY: getsockopt takes any value (WSAENOTSOCK for one that is no
    // socket); the out value and its length are live locals.
    let is_socket = unsafe {
        getsockopt(
            socket,
            SOL_SOCKET,
            SO_TYPE,
            (&mut socket_type as *mut i32).cast::<u8>(),
            &mut length,
        ) == 0
    };
    if !is_socket {
        return refused("a handle that is no socket");
    }
    #[allow(unsafe_code)]
    // SAFETY: WSASocketW made this socket for this process from the
    // description, and it is no socket this process held before: nothing
    // else owns it.
    Ok(unsafe { Socket::from_raw_socket(socket as _) })
}

/// `WSAStartup`, once per process: a process that made no socket yet (the
/// supervisor) has not started Winsock, and `WSASocketW` would fail with
/// WSANOTINITIALISED. Never cleaned up, as std does.
fn winsock_started() -> io::Result<()> {
    static STARTED: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    let code = *STARTED.get_or_init(|| {
        #[allow(unsafe_code)]
        // SAFETY: `data` is a live, zeroed plain C struct WSAStartup fills.
        unsafe {
            let mut data: WSADATA = zeroed();
            WSAStartup(0x202, &mut data)
        }
    });
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code))
    }
}

/// An anonymous pipe, both ends not inheritable: (read, write).
pub(crate) fn pipe() -> io::Result<(OwnedHandle, OwnedHandle)> {
    let mut read: HANDLE = null_mut();
    let mut write: HANDLE = null_mut();
    #[allow(unsafe_code)]
    // SAFETY: both out-pointers are live locals; no security attributes,
    // so neither handle is inheritable.
    check(unsafe { CreatePipe(&mut read, &mut write, null(), 0) })?;
    #[allow(unsafe_code)]
    // SAFETY: CreatePipe just returned both handles; each is owned once.
    Ok(unsafe {
        (
            OwnedHandle::from_raw_handle(read as RawHandle),
            OwnedHandle::from_raw_handle(write as RawHandle),
        )
    })
}

/// Whether a process started from this one inherits `handle`.
pub(crate) fn set_inheritable(handle: BorrowedHandle<'_>, inheritable: bool) -> io::Result<()> {
    let flag = if inheritable { HANDLE_FLAG_INHERIT } else { 0 };
    #[allow(unsafe_code)]
    // SAFETY: `handle` is open for the call; only its inherit flag changes.
    check(unsafe {
        SetHandleInformation(handle.as_raw_handle() as HANDLE, HANDLE_FLAG_INHERIT, flag)
    })
}

/// Whether the raw handle value `handle` names an open pipe in this
/// process that process `maker` made (`GetNamedPipeServerProcessId`: for an
/// anonymous pipe, the process that called `CreatePipe`). It is only looked
/// at, never closed or read.
fn is_pipe_of(handle: usize, maker: u32) -> bool {
    #[allow(unsafe_code)]
    // SAFETY: both calls take any value: an invalid one is an error
    // (FILE_TYPE_UNKNOWN, FALSE), not undefined behaviour; nothing is
    // changed; `server` is a live local.
    unsafe {
        if GetFileType(handle as HANDLE) != FILE_TYPE_PIPE {
            return false;
        }
        let mut server = 0u32;
        GetNamedPipeServerProcessId(handle as HANDLE, &mut server) != 0 && server == maker
    }
}

/// Why [`claim_pipe`] refused a handle value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unclaimed {
    /// No open pipe of this process that `maker` made.
    NotAPipeOf,
    /// Claimed once already in this process.
    Claimed,
}

/// Handle values [`claim_pipe`] owned in this process: each once.
static CLAIMED: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

/// The inherited pipe handle `handle`, owned, and no longer inheritable by
/// what this process starts: when it names an open pipe that process
/// `maker` (the parent) made, and no earlier call took it. A pipe another
/// process made exists here only because that process passed it (this
/// process's own pipes, std's among them, are made here); the parent makes
/// each inheritable for its child alone. Code that rewrites a variable with
/// the parent's id and the value of a pipe the parent passed for another
/// use could still mislead the check; nothing safe in std passes such
/// handles.
pub(crate) fn claim_pipe(handle: usize, maker: u32) -> Result<io::Result<OwnedHandle>, Unclaimed> {
    let mut claimed = CLAIMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if claimed.contains(&handle) {
        return Err(Unclaimed::Claimed);
    }
    if !is_pipe_of(handle, maker) {
        return Err(Unclaimed::NotAPipeOf);
    }
    claimed.push(handle);
    #[allow(unsafe_code)]
    // SAFETY: an open pipe handle of this process that `maker` made and
    // passed to it, taken once (`CLAIMED`, under its lock), as above.
    let owned = unsafe { OwnedHandle::from_raw_handle(handle as RawHandle) };
    Ok(set_inheritable(owned.as_handle(), false).map(|()| owned))
}

/// The raw value of a handle, as another process that inherits it sees it
/// (an inherited handle keeps its value).
pub(crate) fn handle_value(handle: &OwnedHandle) -> usize {
    handle.as_raw_handle() as usize
}

/// A job object that ends its processes when it is closed or terminated:
/// the process group of Windows. A process in it and every process it
/// starts (unless allowed to break away) belong to the job.
#[derive(Debug)]
pub(crate) struct Job(OwnedHandle);

impl Job {
    pub(crate) fn new() -> io::Result<Job> {
        #[allow(unsafe_code)]
        // SAFETY: an unnamed job with default security; the handle is owned
        // at once; the limit struct is a live, zeroed plain C struct.
        unsafe {
            let handle = CreateJobObjectW(null(), null());
            if handle.is_null() {
                return Err(last_error());
            }
            let job = Job(OwnedHandle::from_raw_handle(handle as RawHandle));
            let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = zeroed();
            limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            check(SetInformationJobObject(
                handle,
                JobObjectExtendedLimitInformation,
                (&limits as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ))?;
            Ok(job)
        }
    }

    fn assign(&self, process: &OwnedHandle) -> io::Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: both handles are open for the call.
        check(unsafe {
            AssignProcessToJobObject(
                self.0.as_raw_handle() as HANDLE,
                process.as_raw_handle() as HANDLE,
            )
        })
    }

    /// From now on closing the job does not end its processes: the new
    /// process of an upgrade outlives the old one, which made the job.
    pub(crate) fn release(&self) -> io::Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: the job handle is open; the limit struct is a live, zeroed
        // plain C struct (no limit at all).
        unsafe {
            let limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = zeroed();
            check(SetInformationJobObject(
                self.0.as_raw_handle() as HANDLE,
                JobObjectExtendedLimitInformation,
                (&limits as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ))
        }
    }

    /// Ends every process of the job, with exit code `code`.
    pub(crate) fn terminate(&self, code: u32) -> io::Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: the job handle is open for the call.
        check(unsafe { TerminateJobObject(self.0.as_raw_handle() as HANDLE, code) })
    }
}

/// A process started by [`spawn`], in its job.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: u32,
    process: OwnedHandle,
    /// Its first thread, until it is resumed.
    thread: Option<OwnedHandle>,
}

impl Spawned {
    /// Lets the process run: it was started suspended, so that it was in
    /// its job before it could start anything.
    pub(crate) fn resume(&mut self) -> io::Result<()> {
        if let Some(thread) = self.thread.take() {
            #[allow(unsafe_code)]
            // SAFETY: the thread handle is open for the call.
            let count = unsafe { ResumeThread(thread.as_raw_handle() as HANDLE) };
            if count == u32::MAX {
                return Err(last_error());
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit: its exit code, or
    /// `None` while it runs.
    pub(crate) fn wait(&self, timeout: Duration) -> io::Result<Option<u32>> {
        let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX - 1);
        let handle = self.process.as_raw_handle() as HANDLE;
        #[allow(unsafe_code)]
        // SAFETY: the process handle is open for the call; `code` is live.
        unsafe {
            match WaitForSingleObject(handle, millis) {
                WAIT_OBJECT_0 => {
                    let mut code = 0u32;
                    check(GetExitCodeProcess(handle, &mut code))?;
                    Ok(Some(code))
                }
                WAIT_TIMEOUT => Ok(None),
                _ => Err(last_error()),
            }
        }
    }
}

impl Spawned {
    /// Process `pid`, to wait for (the service an upgrade started).
    pub(crate) fn open(pid: u32) -> io::Result<Spawned> {
        #[allow(unsafe_code)]
        // SAFETY: the handle is owned at once.
        unsafe {
            let handle = OpenProcess(
                PROCESS_SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION,
                0,
                pid,
            );
            if handle.is_null() {
                return Err(last_error());
            }
            Ok(Spawned {
                pid,
                process: OwnedHandle::from_raw_handle(handle as RawHandle),
                thread: None,
            })
        }
    }
}

/// Starts `program` with `command_line` (see [`command_line`]) and
/// `environment` (see [`environment_block`]), suspended, in `job`. The new
/// process inherits exactly `inherit` and this process's standard
/// handles (as inheritable copies): nothing else of this process, whatever
/// other code here marked inheritable (PROC_THREAD_ATTRIBUTE_HANDLE_LIST).
/// The handles in `inherit` must be inheritable for the call.
pub(crate) fn spawn(
    program: &Path,
    command_line: &[u16],
    environment: &[u16],
    inherit: &[BorrowedHandle<'_>],
    job: &Job,
) -> io::Result<Spawned> {
    let program: Vec<u16> = wide(program.as_os_str());
    let mut command_line = command_line.to_vec();
    let standard = StandardHandles::copied()?;
    let mut list: Vec<HANDLE> = inherit
        .iter()
        .map(|h| h.as_raw_handle() as HANDLE)
        .collect();
    list.extend(
        standard
            .handles
            .iter()
            .flatten()
            .map(|h| h.as_raw_handle() as HANDLE),
    );
    let mut attributes = AttributeList::new()?;
    attributes.handle_list(&list)?;
    #[allow(unsafe_code)]
    // SAFETY: every pointer passed lives for the call: the NUL-terminated
    // program path and command line (which CreateProcessW may modify: it
    // is our own copy), the environment block (ends with two NULs), the
    // attribute list whose handle list points to `list`, which outlives
    // the call, and the out struct. The process handle and the thread
    // handle it returns are owned at once.
    unsafe {
        let mut startup: STARTUPINFOEXW = zeroed();
        startup.StartupInfo.cb = size_of::<STARTUPINFOEXW>() as u32;
        startup.lpAttributeList = attributes.as_ptr();
        // Always: without the flag a child may take this process's raw
        // values, which name nothing it inherited. A missing one is null.
        let raw = |slot: &Option<OwnedHandle>| {
            slot.as_ref()
                .map_or(null_mut(), |handle| handle.as_raw_handle() as HANDLE)
        };
        startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        startup.StartupInfo.hStdInput = raw(&standard.handles[0]);
        startup.StartupInfo.hStdOutput = raw(&standard.handles[1]);
        startup.StartupInfo.hStdError = raw(&standard.handles[2]);
        let mut info: PROCESS_INFORMATION = zeroed();
        check(CreateProcessW(
            program.as_ptr(),
            command_line.as_mut_ptr(),
            null(),
            null(),
            1,
            CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT,
            environment.as_ptr().cast(),
            null(),
            &startup.StartupInfo,
            &mut info,
        ))?;
        let mut spawned = Spawned {
            pid: info.dwProcessId,
            process: OwnedHandle::from_raw_handle(info.hProcess as RawHandle),
            thread: Some(OwnedHandle::from_raw_handle(info.hThread as RawHandle)),
        };
        if let Err(error) = job.assign(&spawned.process) {
            // Not in the job: it must not run at all.
            let _ = windows_sys::Win32::System::Threading::TerminateProcess(
                spawned.process.as_raw_handle() as HANDLE,
                1,
            );
            spawned.thread = None;
            return Err(error);
        }
        Ok(spawned)
    }
}

/// The process attribute list of [`spawn`], deleted when dropped.
struct AttributeList {
    buffer: Vec<usize>,
}

impl AttributeList {
    fn new() -> io::Result<AttributeList> {
        let mut size = 0usize;
        #[allow(unsafe_code)]
        // SAFETY: the first call only reports the size needed for one
        // attribute (and fails with ERROR_INSUFFICIENT_BUFFER, expected).
        unsafe {
            InitializeProcThreadAttributeList(null_mut(), 1, 0, &mut size);
        }
        if size == 0 {
            return Err(last_error());
        }
        let mut buffer = vec![0usize; (size + size_of::<usize>() - 1) / size_of::<usize>()];
        #[allow(unsafe_code)]
        // SAFETY: `buffer` is at least `size` bytes, pointer-aligned, and is
        // not moved while the list lives (a Vec's heap buffer stays put).
        check(unsafe {
            InitializeProcThreadAttributeList(buffer.as_mut_ptr().cast(), 1, 0, &mut size)
        })?;
        Ok(AttributeList { buffer })
    }

    fn as_ptr(&mut self) -> *mut core::ffi::c_void {
        self.buffer.as_mut_ptr().cast()
    }

    /// The handles the process inherits: `list` must outlive the process's
    /// creation (the list keeps the pointer).
    fn handle_list(&mut self, list: &[HANDLE]) -> io::Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: the list was initialized for one attribute; `list` is live
        // for the caller's CreateProcessW, and its size is passed with it.
        check(unsafe {
            UpdateProcThreadAttribute(
                self.as_ptr(),
                0,
                PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize,
                list.as_ptr().cast(),
                size_of_val(list),
                null_mut(),
                null(),
            )
        })
    }
}

impl Drop for AttributeList {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: the list was initialized by `new` and is deleted once.
        unsafe {
            DeleteProcThreadAttributeList(self.as_ptr())
        }
    }
}

/// Inheritable copies of this process's standard handles, for the child:
/// the originals may not be inheritable, and marking them so would let
/// every process started meanwhile inherit them.
struct StandardHandles {
    handles: [Option<OwnedHandle>; 3],
}

impl StandardHandles {
    fn copied() -> io::Result<StandardHandles> {
        let mut handles = [None, None, None];
        for (slot, which) in
            handles
                .iter_mut()
                .zip([STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE])
        {
            #[allow(unsafe_code)]
            // SAFETY: GetStdHandle only reads the process's parameters; a
            // handle that is there is duplicated, not taken, and the copy is
            // owned at once. A standard handle that cannot be copied (none,
            // or not a real handle) is left out.
            unsafe {
                let handle = GetStdHandle(which);
                if handle.is_null() || handle == INVALID_HANDLE_VALUE {
                    continue;
                }
                let mut copy: HANDLE = null_mut();
                let process = GetCurrentProcess();
                if DuplicateHandle(
                    process,
                    handle,
                    process,
                    &mut copy,
                    0,
                    1,
                    DUPLICATE_SAME_ACCESS,
                ) != 0
                {
                    *slot = Some(OwnedHandle::from_raw_handle(copy as RawHandle));
                }
            }
        }
        Ok(StandardHandles { handles })
    }
}

/// The process that started this one, as far as the system still says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parent {
    pub(crate) pid: u32,
    /// The process with that id runs, and started before this one: it is
    /// the parent, not a process that got the id after the parent ended.
    pub(crate) started_before_this: bool,
}

/// The process that started this one, or `None` when the system does not
/// list this process. (Windows keeps a parent's id after the parent exits,
/// and may give it to a new process: `started_before_this` tells.)
pub(crate) fn parent() -> io::Result<Option<Parent>> {
    parent_of(std::process::id())
}

/// The process that started process `own`, as [`parent`] says it.
pub(crate) fn parent_of(own: u32) -> io::Result<Option<Parent>> {
    #[allow(unsafe_code)]
    // SAFETY: the snapshot handle is owned at once; the entry is a live,
    // zeroed plain C struct with its size set, as Process32FirstW asks.
    let pid = unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        if snapshot == INVALID_HANDLE_VALUE {
            return Err(last_error());
        }
        let _owned = OwnedHandle::from_raw_handle(snapshot as RawHandle);
        let mut entry: PROCESSENTRY32W = zeroed();
        entry.dwSize = size_of::<PROCESSENTRY32W>() as u32;
        let mut more = Process32FirstW(snapshot, &mut entry);
        let mut found = None;
        while more != 0 {
            if entry.th32ProcessID == own {
                found = Some(entry.th32ParentProcessID);
                break;
            }
            more = Process32NextW(snapshot, &mut entry);
        }
        found
    };
    let Some(pid) = pid else { return Ok(None) };
    let started_before_this = match (started(pid), started(own)) {
        (Some(parent), Some(this)) => parent <= this,
        _ => false,
    };
    Ok(Some(Parent {
        pid,
        started_before_this,
    }))
}

/// When process `pid` started (100 ns since 1601), while it runs.
fn started(pid: u32) -> Option<u64> {
    #[allow(unsafe_code)]
    // SAFETY: the process handle is owned at once and closed on return;
    // the FILETIMEs are live locals the call fills; a process that ended
    // is still opened while a handle to it exists, so its exit code says.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if handle.is_null() {
            return None;
        }
        let process = OwnedHandle::from_raw_handle(handle as RawHandle);
        let mut code = 0u32;
        if GetExitCodeProcess(handle, &mut code) == 0 || code != STILL_ACTIVE as u32 {
            return None;
        }
        let (mut created, mut exited, mut kernel, mut user): (
            FILETIME,
            FILETIME,
            FILETIME,
            FILETIME,
        ) = (zeroed(), zeroed(), zeroed(), zeroed());
        let ok = GetProcessTimes(handle, &mut created, &mut exited, &mut kernel, &mut user);
        drop(process);
        (ok != 0)
            .then(|| (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime))
    }
}

/// Set when the console asked this process to stop (Ctrl-C, Ctrl-Break,
/// the console closed, or shutdown).
static STOP_ASKED: AtomicBool = AtomicBool::new(false);
/// Whether a service of this supervisor runs: a closing console waits.
static SERVICE_RUNS: AtomicBool = AtomicBool::new(false);
/// How long the handler of a closing console waits for the service:
/// Windows ends the process 5 s after the event anyway (Microsoft,
/// "CTRL+CLOSE signal"; on paper).
const CLOSE_WAIT: Duration = Duration::from_millis(4500);

// The signature SetConsoleCtrlHandler asks for; the body is safe.
#[allow(unsafe_code)]
unsafe extern "system" fn on_console_event(event: u32) -> BOOL {
    match event {
        CTRL_C_EVENT | CTRL_BREAK_EVENT => {
            STOP_ASKED.store(true, Ordering::SeqCst);
            // Handled: this process stays, to wait for its service.
            1
        }
        // Log-off reaches services only, whoever logs off: not a stop.
        CTRL_CLOSE_EVENT | CTRL_SHUTDOWN_EVENT => {
            // Returning does not keep the process: Windows ends it after
            // this handler returns. Wait here (on the thread the system
            // made for the event) for the service to drain first, or the
            // job's end would kill it at once.
            STOP_ASKED.store(true, Ordering::SeqCst);
            let started = std::time::Instant::now();
            while SERVICE_RUNS.load(Ordering::SeqCst) && started.elapsed() < CLOSE_WAIT {
                std::thread::sleep(Duration::from_millis(10));
            }
            1
        }
        _ => 0,
    }
}

/// From now on, a console's stop event does not end this process: it is
/// noted, and [`stop_asked`] says so. (The event reaches every process of
/// the console: the service gets its own.)
pub(crate) fn catch_console_stop() -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: the handler only touches atomics and sleeps; it is a plain
    // function that lives as long as the program.
    check(unsafe { SetConsoleCtrlHandler(Some(on_console_event), 1) })
}

/// Whether a console's stop event came since [`catch_console_stop`].
pub(crate) fn stop_asked() -> bool {
    STOP_ASKED.load(Ordering::SeqCst)
}

/// Whether a service runs now: the handler of a closing console waits
/// while it does.
pub(crate) fn set_service_runs(runs: bool) {
    SERVICE_RUNS.store(runs, Ordering::SeqCst);
}

/// A security descriptor that admits only this process's user (and
/// SYSTEM): `D:P(A;;GA;;;<user's SID>)(A;;GA;;;SY)`, freed when dropped.
struct UserOnly(*mut core::ffi::c_void);

impl UserOnly {
    fn new() -> io::Result<UserOnly> {
        #[allow(unsafe_code)]
        // SAFETY: the token handle is owned at once; the buffer is sized by
        // the first GetTokenInformation call and holds a TOKEN_USER whose SID
        // pointer points into the same buffer, alive while it is used; the
        // SID string and the descriptor are LocalAlloc'd by the calls and
        // freed with LocalFree (the string here, the descriptor in Drop).
        unsafe {
            let mut token: HANDLE = null_mut();
            check(OpenProcessToken(
                GetCurrentProcess(),
                TOKEN_QUERY,
                &mut token,
            ))?;
            let token = OwnedHandle::from_raw_handle(token as RawHandle);
            let mut size = 0u32;
            GetTokenInformation(
                token.as_raw_handle() as HANDLE,
                TokenUser,
                null_mut(),
                0,
                &mut size,
            );
            if size == 0 {
                return Err(last_error());
            }
            let mut buffer =
                vec![0usize; (size as usize + size_of::<usize>() - 1) / size_of::<usize>()];
            check(GetTokenInformation(
                token.as_raw_handle() as HANDLE,
                TokenUser,
                buffer.as_mut_ptr().cast(),
                size,
                &mut size,
            ))?;
            let user = &*(buffer.as_ptr().cast::<TOKEN_USER>());
            let mut sid_text: *mut u16 = null_mut();
            check(ConvertSidToStringSidW(user.User.Sid, &mut sid_text))?;
            let mut length = 0;
            while *sid_text.add(length) != 0 {
                length += 1;
            }
            let sid = String::from_utf16_lossy(std::slice::from_raw_parts(sid_text, length));
            LocalFree(sid_text.cast());
            let sddl: Vec<u16> = format!("D:P(A;;GA;;;{sid})(A;;GA;;;SY)")
                .encode_utf16()
                .chain(Some(0))
                .collect();
            let mut descriptor: *mut core::ffi::c_void = null_mut();
            check(ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                null_mut(),
            ))?;
            Ok(UserOnly(descriptor))
        }
    }
}

impl Drop for UserOnly {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: the descriptor was LocalAlloc'd by the conversion, freed once.
        unsafe {
            LocalFree(self.0);
        }
    }
}

/// How many clients a request pipe serves at once (more wait).
const PIPE_INSTANCES: u32 = 4;

/// An instance of a named pipe for this process's user alone (on paper:
/// Wine does not enforce a pipe's access list), local clients only. The
/// `first` fails when the name exists (`FILE_FLAG_FIRST_PIPE_INSTANCE`;
/// Wine does not enforce that either): another process cannot have made it
/// before, and the access list keeps others from making more instances.
pub(crate) fn named_pipe_server(name: &str, first: bool) -> io::Result<OwnedHandle> {
    let security = UserOnly::new()?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: security.0,
        bInheritHandle: 0,
    };
    let name = wide(OsStr::new(name));
    #[allow(unsafe_code)]
    // SAFETY: the name is NUL-terminated and the attributes (with their
    // descriptor) live for the call; the handle is owned at once.
    unsafe {
        let handle = CreateNamedPipeW(
            name.as_ptr(),
            PIPE_ACCESS_DUPLEX
                | if first {
                    FILE_FLAG_FIRST_PIPE_INSTANCE
                } else {
                    0
                },
            PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_INSTANCES,
            4096,
            4096,
            0,
            &attributes,
        );
        if handle == INVALID_HANDLE_VALUE {
            return Err(last_error());
        }
        Ok(OwnedHandle::from_raw_handle(handle as RawHandle))
    }
}

/// Waits for a client on the pipe; `Ok` once one is connected.
pub(crate) fn await_client(pipe: &OwnedHandle) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: the pipe handle is open; no OVERLAPPED: a blocking wait.
    let ok = unsafe { ConnectNamedPipe(pipe.as_raw_handle() as HANDLE, null_mut()) };
    if ok != 0 {
        return Ok(());
    }
    let error = last_error();
    if error.raw_os_error() == Some(ERROR_PIPE_CONNECTED as i32) {
        return Ok(());
    }
    Err(error)
}

/// Ends the pipe's connection with its client, for the next one.
pub(crate) fn drop_client(pipe: &OwnedHandle) {
    #[allow(unsafe_code)]
    // SAFETY: the pipe handle is open.
    unsafe {
        DisconnectNamedPipe(pipe.as_raw_handle() as HANDLE);
    }
}

/// The process on the other end of a named pipe: the client, seen from the
/// server, or the server, seen from a client.
pub(crate) fn pipe_peer(pipe: &OwnedHandle, server_side: bool) -> io::Result<u32> {
    let mut pid = 0u32;
    #[allow(unsafe_code)]
    // SAFETY: the pipe handle is open; `pid` is a live local.
    check(unsafe {
        if server_side {
            GetNamedPipeClientProcessId(pipe.as_raw_handle() as HANDLE, &mut pid)
        } else {
            GetNamedPipeServerProcessId(pipe.as_raw_handle() as HANDLE, &mut pid)
        }
    })?;
    Ok(pid)
}

/// Connects to the named pipe `name`, waiting up to `timeout` for its
/// instance to be free. `NotFound` when nothing serves that name.
pub(crate) fn open_named_pipe(name: &str, timeout: Duration) -> io::Result<OwnedHandle> {
    let name = wide(OsStr::new(name));
    let end = std::time::Instant::now() + timeout;
    loop {
        #[allow(unsafe_code)]
        // SAFETY: the name is NUL-terminated and lives for the call; the
        // handle is owned at once.
        let handle = unsafe {
            CreateFileW(
                name.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                null(),
                OPEN_EXISTING,
                // The server may identify this client, not act as it.
                SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                null_mut(),
            )
        };
        if handle != INVALID_HANDLE_VALUE {
            #[allow(unsafe_code)]
            // SAFETY: CreateFileW just returned it; nothing else owns it.
            return Ok(unsafe { OwnedHandle::from_raw_handle(handle as RawHandle) });
        }
        let error = last_error();
        let busy = error.raw_os_error() == Some(ERROR_PIPE_BUSY as i32);
        let left = end.saturating_duration_since(std::time::Instant::now());
        if !busy || left.is_zero() {
            return Err(error);
        }
        #[allow(unsafe_code)]
        // SAFETY: the name is NUL-terminated and lives for the call.
        unsafe {
            WaitNamedPipeW(
                name.as_ptr(),
                u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1),
            );
        }
    }
}

/// Runs `f` (a blocking read or write on `handle`); if it has not
/// returned after `timeout`, the handle's pending I/O is cancelled
/// (`CancelIoEx`), so that `f` returns with an error. The handle outlives
/// the watchdog: it is joined before this returns.
pub(crate) fn with_deadline<R>(
    handle: BorrowedHandle<'_>,
    timeout: Duration,
    f: impl FnOnce() -> R,
) -> R {
    let raw = handle.as_raw_handle() as usize;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if finished.recv_timeout(timeout).is_err() {
                #[allow(unsafe_code)]
                // SAFETY: `handle` is borrowed for this whole scope, so the
                // value names the same open handle; cancelling I/O on it
                // changes nothing else.
                unsafe {
                    CancelIoEx(raw as HANDLE, null());
                }
            }
        });
        let result = f();
        drop(done);
        result
    })
}

fn wide(text: &OsStr) -> Vec<u16> {
    text.encode_wide().chain(Some(0)).collect()
}
