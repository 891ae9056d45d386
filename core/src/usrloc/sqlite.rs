//! db_sqlite storage: the `location` and `subscriber` tables in an SQLite
//! file with Kamailio's db_sqlite schema (`kamdbctl create` for sqlite:
//! same columns, the `version` table, the indexes), so the file can be
//! shared with Kamailio tools. Datetime columns are `YYYY-MM-DD HH:MM:SS`
//! (UTC) as db_sqlite writes them. Location writes happen only on the
//! usrloc writer thread, which holds its own connection.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::{Binding, Subscriber};
use crate::registrar;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS version (
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
);
CREATE TABLE IF NOT EXISTS subscriber (
    id INTEGER PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
);
CREATE INDEX IF NOT EXISTS subscriber_username_idx ON subscriber (username);
INSERT OR IGNORE INTO version (table_name, table_version) VALUES ('subscriber', 7);
CREATE TABLE IF NOT EXISTS location (
    id INTEGER PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT NULL,
    path VARCHAR(512) DEFAULT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
    q REAL DEFAULT 1.0 NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INTEGER DEFAULT 1 NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    cflags INTEGER DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(64) DEFAULT NULL,
    methods INTEGER DEFAULT NULL,
    instance VARCHAR(255) DEFAULT NULL,
    reg_id INTEGER DEFAULT 0 NOT NULL,
    server_id INTEGER DEFAULT 0 NOT NULL,
    connection_id INTEGER DEFAULT 0 NOT NULL,
    keepalive INTEGER DEFAULT 0 NOT NULL,
    partition INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT location_ruid_idx UNIQUE (ruid)
);
CREATE INDEX IF NOT EXISTS location_account_contact_idx ON location (username, domain, contact);
CREATE INDEX IF NOT EXISTS location_expires_idx ON location (expires);
INSERT OR IGNORE INTO version (table_name, table_version) VALUES ('location', 9);
";

fn err(path: &Path, e: rusqlite::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Opens (creating the file and the tables when missing) the database.
pub fn open(path: &Path) -> Result<Connection, String> {
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let c = Connection::open(path).map_err(|e| err(path, e))?;
    c.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| err(path, e))?;
    c.execute_batch(SCHEMA).map_err(|e| err(path, e))?;
    Ok(c)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn datetime(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let s = t % 86_400;
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) or plain unix seconds back to seconds.
pub fn parse_datetime(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let (date, time) = v.split_once([' ', 'T'])?;
    let mut dp = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, d) = (dp.next()??, dp.next()??, dp.next()??);
    let mut tp = time.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (tp.next()??, tp.next()??, tp.next()??);
    // days-from-civil
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Every row of `location` (AOR, binding).
pub fn load_location(path: &Path) -> Result<Vec<(String, Binding)>, String> {
    let c = open(path)?;
    let mut st = c
        .prepare(
            "SELECT ruid, username, domain, contact, received, path, expires, q, callid, \
             cseq, last_modified, flags, cflags, user_agent, socket, methods, instance, reg_id \
             FROM location",
        )
        .map_err(|e| err(path, e))?;
    let rows = st
        .query_map([], |r| {
            let text = |i: usize| -> rusqlite::Result<String> {
                Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
            };
            let opt = |i: usize| -> rusqlite::Result<Option<std::sync::Arc<str>>> {
                Ok(r.get::<_, Option<String>>(i)?
                    .filter(|s| !s.is_empty())
                    .map(Into::into))
            };
            let time = |i: usize| -> rusqlite::Result<u64> {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Integer(n) => n.max(0) as u64,
                    rusqlite::types::ValueRef::Text(t) => {
                        parse_datetime(&String::from_utf8_lossy(t)).unwrap_or(0)
                    }
                    _ => 0,
                })
            };
            let int = |i: usize| -> rusqlite::Result<i64> {
                Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0))
            };
            let user = text(1)?;
            let aor = match r.get::<_, Option<String>>(2)?.filter(|d| !d.is_empty()) {
                Some(d) => format!("{user}@{d}"),
                None => user,
            };
            let q: f64 = r.get::<_, Option<f64>>(7)?.unwrap_or(-1.0);
            Ok((
                aor,
                Binding {
                    ruid: text(0)?.into(),
                    contact: text(3)?.into(),
                    received: opt(4)?,
                    path: opt(5)?,
                    expires: time(6)?,
                    q: if q < 0.0 {
                        -1
                    } else {
                        (q * 1000.0).round() as i32
                    },
                    callid: text(8)?.into(),
                    cseq: int(9)? as u32,
                    last_modified: time(10)?,
                    flags: int(11)? as u32,
                    cflags: int(12)? as u32,
                    user_agent: text(13)?.into(),
                    socket: opt(14)?,
                    methods: r.get::<_, Option<i64>>(15)?.map(|m| m as u32),
                    instance: opt(16)?,
                    reg_id: int(17)? as u32,
                },
            ))
        })
        .map_err(|e| err(path, e))?;
    let mut out = Vec::new();
    for row in rows {
        let (aor, b) = row.map_err(|e| err(path, e))?;
        if !aor.is_empty() && !b.contact.is_empty() {
            out.push((aor, b));
        }
    }
    Ok(out)
}

/// Replaces the `location` rows with `rows` in one transaction.
pub fn write_location<'a>(
    c: &mut Connection,
    path: &Path,
    rows: impl Iterator<Item = (&'a str, &'a Binding)>,
) -> Result<(), String> {
    let tx = c.transaction().map_err(|e| err(path, e))?;
    tx.execute("DELETE FROM location", [])
        .map_err(|e| err(path, e))?;
    {
        let mut st = tx
            .prepare_cached(
                "INSERT INTO location (ruid, username, domain, contact, received, path, \
                 expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, \
                 methods, instance, reg_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )
            .map_err(|e| err(path, e))?;
        for (aor, b) in rows {
            let (user, domain) = match aor.split_once('@') {
                Some((u, d)) => (u, Some(d)),
                None => (aor, None),
            };
            let q: f64 = if b.q < 0 {
                -1.0
            } else {
                registrar::q_str(b.q).parse().unwrap_or(1.0)
            };
            st.execute(params![
                &*b.ruid,
                user,
                domain,
                &*b.contact,
                b.received.as_deref(),
                b.path.as_deref(),
                datetime(b.expires),
                q,
                &*b.callid,
                b.cseq,
                datetime(b.last_modified),
                b.flags,
                b.cflags,
                &*b.user_agent,
                b.socket.as_deref(),
                b.methods,
                b.instance.as_deref(),
                b.reg_id,
            ])
            .map_err(|e| err(path, e))?;
        }
    }
    tx.commit().map_err(|e| err(path, e))
}

/// Every row of `subscriber`.
pub fn read_subscribers(path: &Path) -> Result<Vec<Subscriber>, String> {
    let c = open(path)?;
    let mut st = c
        .prepare("SELECT username, domain, password, ha1, ha1b FROM subscriber ORDER BY id")
        .map_err(|e| err(path, e))?;
    let rows = st
        .query_map([], |r| {
            let s = |i: usize| -> rusqlite::Result<String> {
                Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
            };
            Ok(Subscriber {
                username: s(0)?,
                domain: s(1)?,
                password: s(2)?,
                ha1: s(3)?,
                ha1b: s(4)?,
            })
        })
        .map_err(|e| err(path, e))?;
    let mut out = Vec::new();
    for r in rows {
        let s = r.map_err(|e| err(path, e))?;
        if !s.username.is_empty() {
            out.push(s);
        }
    }
    Ok(out)
}

/// Replaces the `subscriber` rows with `subs`.
pub fn write_subscribers(path: &Path, subs: &[Subscriber]) -> Result<(), String> {
    let mut c = open(path)?;
    let tx = c.transaction().map_err(|e| err(path, e))?;
    tx.execute("DELETE FROM subscriber", [])
        .map_err(|e| err(path, e))?;
    for s in subs {
        tx.execute(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.username, s.domain, s.password, s.ha1, s.ha1b],
        )
        .map_err(|e| err(path, e))?;
    }
    tx.commit().map_err(|e| err(path, e))
}

/// Whether a row for `user` exists (for tests and tools).
pub fn has_subscriber(path: &Path, user: &str) -> Result<bool, String> {
    let c = open(path)?;
    c.query_row(
        "SELECT 1 FROM subscriber WHERE username = ?1",
        [user],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(|e| err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        assert_eq!(datetime(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(datetime(1_900_000_000), "2030-03-17 17:46:40");
        for t in [0, 951_782_399, 1_700_000_000, 1_900_000_000] {
            assert_eq!(parse_datetime(&datetime(t)), Some(t));
        }
        assert_eq!(parse_datetime("1234"), Some(1234));
        assert_eq!(parse_datetime("junk"), None);
    }
}
