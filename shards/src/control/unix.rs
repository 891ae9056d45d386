//! JSON-RPC over a Unix stream socket: one request per line, one response
//! line each. A client may also send a single request and shut down its
//! write side without a newline.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;

use super::Control;

/// Largest request line accepted.
const MAX_REQUEST: usize = 1 << 20;

/// Binds `path` and serves it on a thread. A stale socket file (nothing
/// answers on it) is replaced; one a running server answers on is an error.
pub fn serve(ctl: Arc<Control>, path: &Path) -> Result<(), String> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "control socket {} is in use by another running server (use --ctl-socket PATH)",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove stale control socket {}: {e}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot bind control socket {}: {e}", path.display()))?;
    thread::Builder::new()
        .name("sipshard-ctl".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let ctl = Arc::clone(&ctl);
                let _ = thread::Builder::new()
                    .name("sipshard-ctl-conn".into())
                    .spawn(move || serve_conn(&ctl, conn));
            }
        })
        .map_err(|e| format!("cannot start the control thread: {e}"))?;
    Ok(())
}

fn serve_conn(ctl: &Control, conn: UnixStream) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_REQUEST as u64).read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(resp) = ctl.call(line.trim()) {
            if writeln!(out, "{resp}").is_err() {
                return;
            }
        }
    }
}
