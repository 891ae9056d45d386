//! The registrar scenario's credentials as a db_text database that both
//! Kamailio's auth_db and sipshard's read: a `subscriber` table (Kamailio
//! 5.6 layout, version 7) holding the generator's user, and the `version`
//! table db_text needs. The configs name it as `@DB_DIR@`.

use std::path::{Path, PathBuf};

use crate::sip::digest::md5_hex;

/// The generator's Digest user and password (see `run_one`).
pub const USER: &str = "sipp";
pub const PASSWORD: &str = "secret";
/// The realm the configs challenge with (`$td`, the To host).
pub const REALM: &str = "127.0.0.1";

/// Writes the tables under `dir/db` and returns that directory.
pub fn write_db(dir: &Path) -> Result<PathBuf, String> {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    let hex = |parts: &[&[u8]]| String::from_utf8_lossy(&md5_hex(parts)).into_owned();
    let ha1 = hex(&[USER.as_bytes(), b":", REALM.as_bytes(), b":", PASSWORD.as_bytes()]);
    let ha1b = hex(&[
        USER.as_bytes(),
        b"@",
        REALM.as_bytes(),
        b":",
        REALM.as_bytes(),
        b":",
        PASSWORD.as_bytes(),
    ]);
    let tables = [
        (
            "subscriber",
            format!(
                "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string)\n\
                 1:{USER}:{REALM}:{PASSWORD}:{ha1}:{ha1b}\n"
            ),
        ),
        ("version", "table_name(string) table_version(int)\nsubscriber:7\n".to_string()),
    ];
    for (name, text) in tables {
        let p = db.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(db)
}
