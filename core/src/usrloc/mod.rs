//! The location table (Kamailio `usrloc`) and the subscriber table
//! (`auth_db`), shared by every shard of the process.
//!
//! Readers (every shard) load a bucket's snapshot through an `ArcSwap`:
//! no lock, no waiting. A change is applied by the shard that makes it,
//! as a compare-and-swap of the bucket against the latest state (so two
//! shards updating one AOR both count, and the 200 OK of a REGISTER is
//! sent only once the next request sees it). One writer thread per table
//! purges expired bindings and persists: `db_mode` 1 rewrites the file
//! after each batch of changes (write-through, coalesced), 2 every
//! `timer_interval` seconds (write-back), 0 never. No file I/O runs on a
//! shard.
//!
//! Storage is named as Kamailio names a database: `text:///DIR` is
//! Kamailio's db_text layout (`DIR/location`, `DIR/subscriber`); without a
//! `db_url` the same files under `<runtime dir>/db`. `sqlite:///FILE` is
//! an SQLite file with Kamailio's db_sqlite schema (see [`sqlite`]).

pub mod dbtext;
pub mod sqlite;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use crossbeam::channel::{self, Receiver, Sender};

use crate::auth::Secret;
use crate::registrar::{self, Op};

/// One contact bound to an address-of-record. Its strings are shared
/// (`Arc<str>`): the copies a REGISTER makes (the op, the reply's list,
/// the table's new bucket) cost a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Record unique id (Kamailio `ruid`).
    pub ruid: Arc<str>,
    /// The contact URI.
    pub contact: Arc<str>,
    /// Source of the REGISTER when behind NAT (`sip:ip:port;transport=x`).
    pub received: Option<Arc<str>>,
    /// `Path` (RFC 3327), comma-separated URIs.
    pub path: Option<Arc<str>>,
    /// Absolute expiry, unix seconds.
    pub expires: u64,
    /// q in thousandths; -1 unspecified.
    pub q: i32,
    pub callid: Arc<str>,
    pub cseq: u32,
    pub last_modified: u64,
    pub flags: u32,
    pub cflags: u32,
    pub user_agent: Arc<str>,
    /// The local socket it registered through (`udp:1.2.3.4:5060`).
    pub socket: Option<Arc<str>>,
    pub methods: Option<u32>,
    /// `+sip.instance` (RFC 5626 / GRUU).
    pub instance: Option<Arc<str>>,
    /// `reg-id` (RFC 5626), 0 none.
    pub reg_id: u32,
}

/// Unix time in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The runtime directory (as the control socket's): `/run/sipshard`,
/// `$XDG_RUNTIME_DIR/sipshard`, else `/tmp/sipshard-<uid>`.
pub fn runtime_dir() -> PathBuf {
    fn writable(d: &Path) -> bool {
        let probe = d.join(".probe");
        let ok = std::fs::create_dir_all(d).is_ok() && std::fs::write(&probe, b"").is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    }
    let run = PathBuf::from("/run/sipshard");
    if writable(&run) {
        return run;
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        let d = PathBuf::from(x).join("sipshard");
        if writable(&d) {
            return d;
        }
    }
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    PathBuf::from(format!("/tmp/sipshard-{uid}"))
}

/// The directory of db_text tables a `db_url` names (None: the default).
/// Where a database lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Db {
    /// db_text: one file per table in this directory.
    Text(PathBuf),
    /// db_sqlite: this SQLite file.
    Sqlite(PathBuf),
}

impl Db {
    /// The file holding `table` (what to watch for changes).
    pub fn file_of(&self, table: &str) -> PathBuf {
        match self {
            Db::Text(d) => d.join(table),
            Db::Sqlite(f) => f.clone(),
        }
    }
}

/// The database a `db_url` names (None or empty: the embedded db_text
/// store under the runtime directory).
pub fn db_of(db_url: Option<&str>) -> Result<Db, String> {
    match db_url {
        None | Some("") => Ok(Db::Text(runtime_dir().join("db"))),
        Some(u) => {
            let (p, sqlite) = if let Some(p) = u.strip_prefix("text://") {
                (p, false)
            } else if let Some(p) = u.strip_prefix("sqlite://") {
                (p, true)
            } else {
                return Err(format!(
                    "db_url `{u}`: only db_text (`text:///DIR`) and db_sqlite (`sqlite:///FILE`) databases are supported"
                ));
            };
            if p.is_empty() {
                return Err(format!("db_url `{u}`: no path"));
            }
            Ok(if sqlite {
                Db::Sqlite(PathBuf::from(p))
            } else {
                Db::Text(PathBuf::from(p))
            })
        }
    }
}

const BUCKETS: usize = 1 << 14;

type Bucket = Vec<(Arc<str>, Arc<[Binding]>)>;

/// usrloc parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocOptions {
    /// 0 memory only, 1 write-through, 2 write-back (others act as 1).
    pub db_mode: u32,
    /// Seconds between write-back flushes and expiry sweeps.
    pub timer_interval: u32,
}

impl Default for LocOptions {
    fn default() -> Self {
        LocOptions {
            db_mode: 1,
            timer_interval: 60,
        }
    }
}

enum Cmd {
    /// The table changed: persist it.
    Dirty,
    Sync(Sender<()>),
}

struct Shared {
    buckets: Box<[ArcSwap<Bucket>]>,
    db: Option<Db>,
    count: AtomicU64,
}

/// The location table.
pub struct LocationStore {
    shared: Arc<Shared>,
    tx: Sender<Cmd>,
    seq: AtomicU64,
}

impl std::fmt::Debug for LocationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocationStore")
            .field("db", &self.shared.db)
            .finish()
    }
}

/// Kamailio's `core_hash` of an AOR (usrloc's `aorhash`): it picks the
/// bucket, and a temp-gruu carries it so `lookup()` finds the binding by
/// record id in that one bucket.
pub fn aor_hash(aor: &str) -> u32 {
    let b = aor.as_bytes();
    let mut h: u32 = 0;
    let mut add = |v: u32| h = h.wrapping_add(v ^ (v >> 3));
    let mut chunks = b.chunks_exact(4);
    for c in &mut chunks {
        add(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let v = chunks
        .remainder()
        .iter()
        .fold(0u32, |v, &x| (v << 8) | u32::from(x));
    add(v);
    h.wrapping_add(h >> 11)
        .wrapping_add((h >> 13).wrapping_add(h >> 23))
}

fn bucket_of(aor: &str) -> usize {
    bucket_of_hash(aor_hash(aor))
}

fn bucket_of_hash(h: u32) -> usize {
    h as usize & (BUCKETS - 1)
}

impl LocationStore {
    /// Opens the table persisted in `db` (None: memory only), loading
    /// what is there, and starts its writer thread.
    pub fn open(db: Option<&Db>, opts: LocOptions) -> Result<Arc<LocationStore>, String> {
        let db = match db {
            Some(Db::Text(d)) if opts.db_mode != 0 => {
                std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
                Some(Db::Text(d.clone()))
            }
            Some(Db::Sqlite(f)) if opts.db_mode != 0 => Some(Db::Sqlite(f.clone())),
            _ => None,
        };
        let mut init: Vec<Bucket> = vec![Vec::new(); BUCKETS];
        let mut count = 0;
        if let Some(db) = &db {
            let now = now();
            let mut by_aor: HashMap<String, Vec<Binding>> = HashMap::new();
            let rows = match db {
                Db::Text(d) => load_location(&d.join("location"))?,
                Db::Sqlite(f) => sqlite::load_location(f)?,
            };
            for (aor, b) in rows {
                if b.expires > now {
                    by_aor.entry(aor).or_default().push(b);
                }
            }
            for (aor, v) in by_aor {
                count += v.len() as u64;
                init[bucket_of(&aor)].push((aor.into(), v.into()));
            }
        }
        let shared = Arc::new(Shared {
            buckets: init.into_iter().map(ArcSwap::from_pointee).collect(),
            db,
            count: AtomicU64::new(count),
        });
        let (tx, rx) = channel::unbounded();
        let s2 = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("usrloc-writer".into())
            .spawn(move || writer(s2, rx, opts))
            .map_err(|e| format!("usrloc writer thread: {e}"))?;
        Ok(Arc::new(LocationStore {
            shared,
            tx,
            seq: AtomicU64::new(0),
        }))
    }

    /// The bindings of `aor` (expired ones included until the writer
    /// purges them; callers filter by `expires`). No lock.
    pub fn get(&self, aor: &str) -> Option<Arc<[Binding]>> {
        let b = self.shared.buckets[bucket_of(aor)].load();
        b.iter()
            .find(|(k, _)| &**k == aor)
            .map(|(_, v)| Arc::clone(v))
    }

    /// The binding with record id `ruid` among the AORs of hash `hash`
    /// (a temp-gruu), with its AOR. No lock.
    pub fn by_ruid(&self, hash: u32, ruid: &str) -> Option<(Arc<str>, Binding)> {
        let b = self.shared.buckets[bucket_of_hash(hash)].load();
        b.iter()
            .filter(|(k, _)| aor_hash(k) == hash)
            .find_map(|(k, v)| {
                v.iter()
                    .find(|x| &*x.ruid == ruid)
                    .map(|x| (k.clone(), x.clone()))
            })
    }

    /// Applies changes to `aor` now; the writer persists them later.
    pub fn apply(&self, aor: &str, ops: Vec<Op>) {
        if !ops.is_empty() && update_aor(&self.shared, aor, |v| registrar::apply(v, &ops)) {
            self.dirty();
        }
    }

    /// Removes every binding of `aor`.
    pub fn remove_aor(&self, aor: &str) {
        if update_aor(&self.shared, aor, Vec::clear) {
            self.dirty();
        }
    }

    fn dirty(&self) {
        if self.shared.db.is_some() {
            let _ = self.tx.send(Cmd::Dirty);
        }
    }

    /// Waits until every change made before has been persisted.
    pub fn sync(&self) {
        let (t, r) = channel::bounded(1);
        if self.tx.send(Cmd::Sync(t)).is_ok() {
            let _ = r.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Every AOR with its bindings.
    pub fn dump(&self) -> Vec<(Box<str>, Arc<[Binding]>)> {
        let mut v: Vec<(Box<str>, Arc<[Binding]>)> = Vec::new();
        for b in self.shared.buckets.iter() {
            v.extend(
                b.load()
                    .iter()
                    .map(|(k, x)| (Box::from(&**k), Arc::clone(x))),
            );
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Number of bindings held.
    pub fn len(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new record id.
    pub fn ruid(&self, now: u64) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("uloc-{now:x}-{:x}-{n:x}", std::process::id())
    }
}

/// Changes the bindings of `aor` with `f`, as a compare-and-swap of its
/// bucket (retried when another thread swapped it first). True when
/// something changed.
fn update_aor(shared: &Shared, aor: &str, f: impl Fn(&mut Vec<Binding>)) -> bool {
    let slot = &shared.buckets[bucket_of(aor)];
    loop {
        let cur = slot.load_full();
        let pos = cur.iter().position(|(k, _)| &**k == aor);
        let mut v: Vec<Binding> = pos.map(|i| cur[i].1.to_vec()).unwrap_or_default();
        f(&mut v);
        let old = pos.map_or(0, |i| cur[i].1.len());
        if pos.is_none() && v.is_empty() {
            return false;
        }
        if pos.is_some_and(|i| *cur[i].1 == *v) {
            return false;
        }
        let new = v.len();
        let mut next: Bucket = (*cur).clone();
        match (pos, v.is_empty()) {
            (Some(i), true) => {
                next.swap_remove(i);
            }
            (Some(i), false) => next[i].1 = v.into(),
            (None, _) => next.push((aor.into(), v.into())),
        }
        let prev = slot.compare_and_swap(&cur, Arc::new(next));
        if Arc::ptr_eq(&prev, &cur) {
            shared.count.fetch_add(new as u64, Ordering::Relaxed);
            shared.count.fetch_sub(old as u64, Ordering::Relaxed);
            return true;
        }
    }
}

fn writer(shared: Arc<Shared>, rx: Receiver<Cmd>, opts: LocOptions) {
    let tick = Duration::from_secs(1);
    let interval = opts.timer_interval.max(1) as u64;
    let mut dirty = false;
    let mut last_flush = now();
    let mut last_sweep = now();
    let mut conn = None;
    loop {
        let first = match rx.recv_timeout(tick) {
            Ok(c) => Some(c),
            Err(channel::RecvTimeoutError::Timeout) => None,
            Err(channel::RecvTimeoutError::Disconnected) => {
                if dirty {
                    persist(&shared, &mut conn);
                }
                return;
            }
        };
        let mut syncs = Vec::new();
        let mut cmds: Vec<Cmd> = first.into_iter().collect();
        while cmds.len() < 4096 {
            match rx.try_recv() {
                Ok(c) => cmds.push(c),
                Err(_) => break,
            }
        }
        for c in cmds {
            match c {
                Cmd::Dirty => dirty = true,
                Cmd::Sync(t) => syncs.push(t),
            }
        }
        let t = now();
        // expired bindings leave memory (lookups already skip them)
        if t > last_sweep {
            last_sweep = t;
            for slot in shared.buckets.iter() {
                let b = slot.load();
                if b.iter().any(|(_, v)| v.iter().any(|x| x.expires <= t)) {
                    for (aor, v) in b.iter() {
                        if v.iter().any(|x| x.expires <= t) {
                            dirty |= update_aor(&shared, aor, |v| v.retain(|x| x.expires > t));
                        }
                    }
                }
            }
        }
        let flush_now = match opts.db_mode {
            0 => false,
            2 => t >= last_flush + interval || !syncs.is_empty(),
            _ => true,
        };
        if dirty && flush_now {
            persist(&shared, &mut conn);
            dirty = false;
            last_flush = t;
        }
        for s in syncs {
            let _ = s.send(());
        }
    }
}

fn opt(s: &Option<Arc<str>>, out: &mut String) {
    if let Some(s) = s {
        dbtext::escape(s, out);
    }
}

/// Writes the table: db_text layout, or the rows of the SQLite table
/// (through `conn`, the writer thread's own connection).
fn persist(shared: &Shared, conn: &mut Option<rusqlite::Connection>) {
    let path = match &shared.db {
        None => return,
        Some(Db::Sqlite(f)) => {
            if conn.is_none() {
                match sqlite::open(f) {
                    Ok(c) => *conn = Some(c),
                    Err(e) => {
                        eprintln!("usrloc: {e}");
                        return;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { return };
            let snap: Vec<_> = shared.buckets.iter().map(|b| b.load_full()).collect();
            let rows = snap
                .iter()
                .flat_map(|b| b.iter())
                .flat_map(|(aor, v)| v.iter().map(move |b| (&**aor, b)));
            if let Err(e) = sqlite::write_location(c, f, rows) {
                eprintln!("usrloc: cannot write {e}");
                *conn = None;
            }
            return;
        }
        Some(Db::Text(d)) => d.join("location"),
    };
    let path = &path;
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(dbtext::LOCATION_HEADER);
    out.push('\n');
    let mut id = 0u64;
    for slot in shared.buckets.iter() {
        for (aor, v) in slot.load().iter() {
            let (user, domain) = match aor.split_once('@') {
                Some((u, d)) => (u, Some(d)),
                None => (&**aor, None),
            };
            for b in v.iter() {
                id += 1;
                out.push_str(&id.to_string());
                out.push(':');
                dbtext::escape(&b.ruid, &mut out);
                out.push(':');
                dbtext::escape(user, &mut out);
                out.push(':');
                if let Some(d) = domain {
                    dbtext::escape(d, &mut out);
                }
                out.push(':');
                dbtext::escape(&b.contact, &mut out);
                out.push(':');
                opt(&b.received, &mut out);
                out.push(':');
                opt(&b.path, &mut out);
                out.push_str(&format!(
                    ":{}:{}:",
                    b.expires,
                    if b.q < 0 {
                        "-1".to_string()
                    } else {
                        registrar::q_str(b.q)
                    }
                ));
                dbtext::escape(&b.callid, &mut out);
                out.push_str(&format!(
                    ":{}:{}:{}:{}:",
                    b.cseq, b.last_modified, b.flags, b.cflags
                ));
                dbtext::escape(&b.user_agent, &mut out);
                out.push(':');
                opt(&b.socket, &mut out);
                out.push(':');
                if let Some(m) = b.methods {
                    out.push_str(&m.to_string());
                }
                out.push(':');
                opt(&b.instance, &mut out);
                out.push_str(&format!(":{}:0:-1:0:0\n", b.reg_id));
            }
        }
    }
    if let Err(e) = dbtext::write_atomic(path, &out) {
        eprintln!("usrloc: cannot write {}: {e}", path.display());
    }
}

fn load_location(path: &Path) -> Result<Vec<(String, Binding)>, String> {
    let t = dbtext::read(path)?;
    let mut out = Vec::new();
    for m in t.maps() {
        let s = |k: &str| m.get(k).copied().flatten().unwrap_or("");
        let o = |k: &str| {
            m.get(k)
                .copied()
                .flatten()
                .filter(|v| !v.is_empty())
                .map(Into::into)
        };
        let n = |k: &str| s(k).parse::<u64>().unwrap_or(0);
        let user = s("username");
        if user.is_empty() || s("contact").is_empty() {
            continue;
        }
        let aor = match m.get("domain").copied().flatten().filter(|d| !d.is_empty()) {
            Some(d) => format!("{user}@{d}"),
            None => user.to_string(),
        };
        let q = s("q")
            .parse::<f64>()
            .map(|f| {
                if f < 0.0 {
                    -1
                } else {
                    (f * 1000.0).round() as i32
                }
            })
            .unwrap_or(-1);
        out.push((
            aor,
            Binding {
                ruid: s("ruid").into(),
                contact: s("contact").into(),
                received: o("received"),
                path: o("path"),
                expires: n("expires"),
                q,
                callid: s("callid").into(),
                cseq: n("cseq") as u32,
                last_modified: n("last_modified"),
                flags: n("flags") as u32,
                cflags: n("cflags") as u32,
                user_agent: s("user_agent").into(),
                socket: o("socket"),
                methods: s("methods").parse().ok(),
                instance: o("instance").map(|i: Arc<str>| i.trim_matches('"').into()),
                reg_id: n("reg_id") as u32,
            },
        ));
    }
    Ok(out)
}

/// User name → (domain, secret) rows.
type Credentials = HashMap<String, Vec<(String, Arc<Secret>)>>;

/// The subscriber table: credentials by user name, reloaded when its file
/// changes (so `sipshard subscriber add` takes effect without a restart).
pub struct SubscriberDb {
    db: Db,
    path: PathBuf,
    map: ArcSwap<Credentials>,
}

impl std::fmt::Debug for SubscriberDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberDb")
            .field("path", &self.path)
            .finish()
    }
}

/// A subscriber row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub username: String,
    pub domain: String,
    pub password: String,
    pub ha1: String,
    pub ha1b: String,
}

/// Reads the `subscriber` table.
pub fn read_subscribers(db: &Db) -> Result<Vec<Subscriber>, String> {
    let dir = match db {
        Db::Text(d) => d,
        Db::Sqlite(f) => return sqlite::read_subscribers(f),
    };
    let t = dbtext::read(&dir.join("subscriber"))?;
    Ok(t.maps()
        .into_iter()
        .map(|m| {
            let s = |k: &str| m.get(k).copied().flatten().unwrap_or("").to_string();
            Subscriber {
                username: s("username"),
                domain: s("domain"),
                password: s("password"),
                ha1: s("ha1"),
                ha1b: s("ha1b"),
            }
        })
        .filter(|s| !s.username.is_empty())
        .collect())
}

/// Writes the `subscriber` table (Kamailio's layout).
pub fn write_subscribers(db: &Db, subs: &[Subscriber]) -> Result<(), String> {
    let dir = match db {
        Db::Text(d) => d,
        Db::Sqlite(f) => return sqlite::write_subscribers(f, subs),
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = String::from(dbtext::SUBSCRIBER_HEADER);
    out.push('\n');
    for (i, s) in subs.iter().enumerate() {
        out.push_str(&(i + 1).to_string());
        for f in [&s.username, &s.domain, &s.password, &s.ha1, &s.ha1b] {
            out.push(':');
            dbtext::escape(f, &mut out);
        }
        out.push('\n');
    }
    let path = dir.join("subscriber");
    dbtext::write_atomic(&path, &out).map_err(|e| format!("{}: {e}", path.display()))
}

impl SubscriberDb {
    /// Opens the `subscriber` table of `db` and starts watching its file.
    pub fn open(db: &Db) -> Result<Arc<SubscriberDb>, String> {
        let db = Arc::new(SubscriberDb {
            db: db.clone(),
            path: db.file_of("subscriber"),
            map: ArcSwap::from_pointee(HashMap::new()),
        });
        db.reload()?;
        let weak = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("auth_db-watch".into())
            .spawn(move || {
                let mut seen = None;
                loop {
                    std::thread::sleep(Duration::from_millis(500));
                    let Some(db) = weak.upgrade() else { return };
                    let m = std::fs::metadata(&db.path).and_then(|m| m.modified()).ok();
                    if seen.is_some() && m != seen {
                        let _ = db.reload();
                    }
                    seen = m.or(Some(UNIX_EPOCH));
                }
            })
            .map_err(|e| format!("auth_db thread: {e}"))?;
        Ok(db)
    }

    fn reload(&self) -> Result<(), String> {
        let mut m: Credentials = HashMap::new();
        for s in read_subscribers(&self.db)? {
            m.entry(s.username).or_default().push((
                s.domain,
                Arc::new(Secret::new(s.password.into_bytes(), s.ha1.into_bytes())),
            ));
        }
        self.map.store(Arc::new(m));
        Ok(())
    }

    /// Credentials of `user` (in `domain` when given: auth_db `use_domain`).
    pub fn get(&self, user: &[u8], domain: Option<&[u8]>) -> Option<Arc<Secret>> {
        let user = std::str::from_utf8(user).ok()?;
        let m = self.map.load();
        let v = m.get(user)?;
        match domain {
            None => v.first().map(|(_, s)| s.clone()),
            Some(d) => v
                .iter()
                .find(|(dd, _)| dd.as_bytes().eq_ignore_ascii_case(d))
                .map(|(_, s)| s.clone()),
        }
    }
}

type Registry<T> = Mutex<HashMap<Db, Arc<T>>>;

/// The process's location table stored in `dir` (opened once, shared by
/// every program reload and the control plane).
pub fn location(dir: &Db, opts: LocOptions) -> Result<Arc<LocationStore>, String> {
    static R: OnceLock<Registry<LocationStore>> = OnceLock::new();
    let mut r = R
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = r.get(dir) {
        return Ok(Arc::clone(s));
    }
    let d = (opts.db_mode != 0).then_some(dir);
    let s = LocationStore::open(d, opts)?;
    r.insert(dir.clone(), Arc::clone(&s));
    publish_location(&s);
    Ok(s)
}

/// Every location table opened so far (for `ul.dump`).
pub fn all_locations() -> Vec<Arc<LocationStore>> {
    LOCATIONS
        .get()
        .map(|v| v.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .unwrap_or_default()
}

static LOCATIONS: OnceLock<Mutex<Vec<Arc<LocationStore>>>> = OnceLock::new();

/// Records a table for [`all_locations`].
pub fn publish_location(s: &Arc<LocationStore>) {
    let mut v = LOCATIONS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !v.iter().any(|x| Arc::ptr_eq(x, s)) {
        v.push(Arc::clone(s));
    }
}

/// The process's subscriber table in `dir`.
pub fn subscribers(dir: &Db) -> Result<Arc<SubscriberDb>, String> {
    static R: OnceLock<Registry<SubscriberDb>> = OnceLock::new();
    let mut r = R
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = r.get(dir) {
        return Ok(Arc::clone(s));
    }
    let s = SubscriberDb::open(dir)?;
    r.insert(dir.clone(), Arc::clone(&s));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registrar::{update, ContactIn, Params, Request};

    #[test]
    fn aor_hash_is_kamailios_core_hash() {
        // Kamailio 5.6 printed temp-gruu `...-3c33e6@` for AOR `bob`: the
        // hash's hex digits, lowest first.
        assert_eq!(aor_hash("bob"), 0x6e33c3);
        assert_eq!(aor_hash(""), 0);
    }

    #[test]
    fn store_persists_and_reloads() {
        let dir = std::env::temp_dir().join(format!("sipshard-ul-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = LocationStore::open(Some(&Db::Text(dir.clone())), LocOptions::default()).unwrap();
        let req = Request {
            contacts: vec![ContactIn {
                uri: "sip:alice@127.0.0.1:5070".into(),
                ..Default::default()
            }],
            callid: "c:1".into(),
            cseq: 1,
            ..Default::default()
        };
        let t = now();
        let o = update(&[], &req, &Params::default(), 0, t, || s.ruid(t)).unwrap();
        s.apply("alice", o.ops);
        s.sync();
        assert_eq!(s.get("alice").unwrap().len(), 1);
        let text = std::fs::read_to_string(dir.join("location")).unwrap();
        assert!(text.contains("sip\\:alice@127.0.0.1\\:5070"), "{text}");
        assert!(text.contains(":c\\:1:1:"), "{text}");
        let s2 = LocationStore::open(Some(&Db::Text(dir.clone())), LocOptions::default()).unwrap();
        let b = s2.get("alice").unwrap();
        assert_eq!(&*b[0].contact, "sip:alice@127.0.0.1:5070");
        assert_eq!(&*b[0].callid, "c:1");
        s.remove_aor("alice");
        s.sync();
        assert!(s.get("alice").is_none());
        assert_eq!(s.len(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
