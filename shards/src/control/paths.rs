//! Where the control socket is: `--ctl-socket`, else
//! `modparam("ctl", "binrpc", "unix:/path")`, else the runtime directory
//! (`/run/sipshard` when writable, else `$XDG_RUNTIME_DIR/sipshard`, else
//! `/tmp/sipshard-$UID`). The HTTP listener: `--http`, else
//! `modparam("ctl", "http", "ADDR:PORT")`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sipshard_core::script::ModParam;

/// File name of the socket in the runtime directory.
pub const SOCKET_NAME: &str = "sipshard_ctl";

fn writable_dir(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// The runtime directory (created when missing).
pub fn runtime_dir() -> PathBuf {
    let run = PathBuf::from("/run/sipshard");
    if writable_dir(&run) {
        return run;
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        let d = PathBuf::from(x).join("sipshard");
        if writable_dir(&d) {
            return d;
        }
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/sipshard-{uid}"))
}

/// The default socket path.
pub fn default_socket() -> PathBuf {
    runtime_dir().join(SOCKET_NAME)
}

/// The socket path a config names: `modparam("ctl", "binrpc", "unix:/p")`
/// (Kamailio's spelling) or a plain path.
pub fn socket_from_modparams(params: &[ModParam]) -> Option<PathBuf> {
    params
        .iter()
        .filter(|p| p.module == "ctl" && p.param == "binrpc")
        .map(|p| p.value.text())
        .find_map(|v| {
            let path = v.strip_prefix("unix:").unwrap_or(&v);
            path.starts_with('/').then(|| PathBuf::from(path))
        })
}

/// The HTTP listener a config names: `modparam("ctl", "http", "ADDR:PORT")`.
pub fn http_from_modparams(params: &[ModParam]) -> Result<Option<SocketAddr>, String> {
    match params
        .iter()
        .find(|p| p.module == "ctl" && p.param == "http")
    {
        None => Ok(None),
        Some(p) => {
            let v = p.value.text();
            v.parse()
                .map(Some)
                .map_err(|_| format!("modparam ctl http: `{v}` is not ADDR:PORT"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipshard_core::script::ast::ParamValue;

    fn mp(module: &str, param: &str, v: &str) -> ModParam {
        ModParam {
            module: module.into(),
            param: param.into(),
            value: ParamValue::Str(v.into()),
        }
    }

    #[test]
    fn modparams_name_socket_and_http() {
        let ps = vec![
            mp("ctl", "binrpc", "tcp:127.0.0.1:2046"),
            mp("ctl", "binrpc", "unix:/run/x/ctl"),
            mp("ctl", "http", "127.0.0.1:9100"),
        ];
        assert_eq!(
            socket_from_modparams(&ps),
            Some(PathBuf::from("/run/x/ctl"))
        );
        assert_eq!(
            http_from_modparams(&ps).unwrap(),
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert!(http_from_modparams(&[mp("ctl", "http", "nope")]).is_err());
        assert_eq!(socket_from_modparams(&[]), None);
    }
}
