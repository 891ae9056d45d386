//! SIGHUP reloads the config, as `sipshard ctl cfg.reload` does.
//!
//! SIGHUP is blocked in the main thread before any other thread starts, so
//! every thread inherits the block, and one thread takes it with
//! `sigwait`: no handler runs on a shard.

use std::sync::Arc;
use std::thread;

use super::reload::Reload;
use crate::logger::Logger;
use sipshard_core::route_io::level;

fn hup_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGHUP in the calling thread (and the threads it starts later).
/// Call first thing in `main`, before any thread is spawned.
pub fn block_sighup() -> Result<(), String> {
    let set = hup_set();
    // SAFETY: set is initialised; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("cannot block SIGHUP: error {rc}"))
    }
}

/// Starts the thread that reloads on every SIGHUP and logs the outcome.
pub fn reload_on_sighup(reload: Arc<dyn Reload>, logger: Logger) -> Result<(), String> {
    thread::Builder::new()
        .name("sipshard-sighup".into())
        .spawn(move || loop {
            let set = hup_set();
            let mut sig: libc::c_int = 0;
            // SAFETY: set is initialised and sig is a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            match reload.reload() {
                Ok(o) => {
                    logger.always(&format!(
                        "SIGHUP: config reloaded, generation {}",
                        o.generation
                    ));
                    for r in &o.needs_restart {
                        logger.always(&format!("SIGHUP: needs a restart to take effect: {r}"));
                    }
                }
                Err(e) => logger.log(
                    level::ERR,
                    None,
                    &format!("SIGHUP: config not reloaded, the running one continues:\n{e}"),
                ),
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the SIGHUP thread: {e}"))
}
