//! `sipshard subscriber add|rm|list [-f CONFIG] [-A NAME=VALUE] ...`: the
//! subscriber table that the config's auth_db `db_url` names (Kamailio's
//! `kamctl add/rm`); without -f, the built-in default config's (the
//! embedded store). A running server picks changes up within a second.

use std::path::PathBuf;

use sipshard_core::auth::Algorithm;
use sipshard_core::usrloc::{self, Subscriber};

use crate::run_cmd::compile_text;

/// Which config's subscriber table.
#[derive(clap::Args)]
struct Cfg {
    /// Config file; without it, the built-in default config.
    #[arg(short = 'f', long = "config", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Define a preprocessor symbol, as for `sipshard run`.
    #[arg(short = 'A', value_name = "NAME[=VALUE]")]
    defines: Vec<String>,
}

#[derive(clap::Args)]
pub struct SubscriberArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Add a subscriber, or change its password.
    Add {
        #[command(flatten)]
        cfg: Cfg,
        /// user@domain
        user: String,
        password: String,
    },
    /// Remove a subscriber.
    Rm {
        #[command(flatten)]
        cfg: Cfg,
        /// user@domain
        user: String,
    },
    /// List subscribers (user@domain per line).
    List {
        #[command(flatten)]
        cfg: Cfg,
    },
}

fn table_dir(c: &Cfg) -> Result<usrloc::Db, String> {
    let cfg = compile_text(c.file.as_ref(), &c.defines)?;
    usrloc::db_of(cfg.program.settings.reg.auth_db_url.as_deref())
}

fn split(user: &str) -> Result<(&str, &str), String> {
    match user.split_once('@') {
        Some((u, d)) if !u.is_empty() && !d.is_empty() => Ok((u, d)),
        _ => Err(format!("`{user}`: expected user@domain")),
    }
}

fn act(a: SubscriberArgs) -> Result<(), String> {
    match a.action {
        Action::Add {
            cfg,
            user,
            password,
        } => {
            let dir = table_dir(&cfg)?;
            let (u, d) = split(&user)?;
            let mut subs = usrloc::read_subscribers(&dir)?;
            subs.retain(|s| !(s.username == u && s.domain.eq_ignore_ascii_case(d)));
            let ha1 = Algorithm::Md5.hash_hex(&[u.as_bytes(), d.as_bytes(), password.as_bytes()]);
            let ha1b =
                Algorithm::Md5.hash_hex(&[user.as_bytes(), d.as_bytes(), password.as_bytes()]);
            subs.push(Subscriber {
                username: u.into(),
                domain: d.into(),
                password,
                ha1,
                ha1b,
            });
            usrloc::write_subscribers(&dir, &subs)
        }
        Action::Rm { cfg, user } => {
            let dir = table_dir(&cfg)?;
            let (u, d) = split(&user)?;
            let mut subs = usrloc::read_subscribers(&dir)?;
            let n = subs.len();
            subs.retain(|s| !(s.username == u && s.domain.eq_ignore_ascii_case(d)));
            if subs.len() == n {
                return Err(format!("no subscriber {user}"));
            }
            usrloc::write_subscribers(&dir, &subs)
        }
        Action::List { cfg } => {
            let dir = table_dir(&cfg)?;
            for s in usrloc::read_subscribers(&dir)? {
                println!("{}@{}", s.username, s.domain);
            }
            Ok(())
        }
    }
}

pub fn run(a: SubscriberArgs) -> i32 {
    match act(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sipshard subscriber: {e}");
            1
        }
    }
}
