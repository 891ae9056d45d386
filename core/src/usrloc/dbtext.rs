//! Kamailio's `db_text` files: a header line of `name(type[,flags])`
//! columns, then one row per line with fields separated by `:` (`\:`,
//! `\\`, `\n`, `\r`, `\t` escaped; an empty field of a `null` column is
//! NULL). Columns are read by name, so a file with more or fewer columns
//! than ours still loads.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The `location` table as Kamailio 5.6 lays it out (version 9).
pub const LOCATION_HEADER: &str = "id(int,auto) ruid(string) username(string) domain(string,null) contact(string) received(string,null) path(string,null) expires(int) q(double) callid(string) cseq(int) last_modified(int) flags(int) cflags(int) user_agent(string) socket(string,null) methods(int,null) instance(string,null) reg_id(int) server_id(int) connection_id(int) keepalive(int) partition(int)";

/// The `subscriber` table (version 7).
pub const SUBSCRIBER_HEADER: &str =
    "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string)";

/// A table read from a file: rows as column name → value (None: NULL).
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Rows as maps (convenient, not fast).
    pub fn maps(&self) -> Vec<HashMap<&str, Option<&str>>> {
        self.rows
            .iter()
            .map(|r| {
                self.columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.as_str(), v.as_deref()))
                    .collect()
            })
            .collect()
    }
}

pub fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            ':' => out.push_str("\\:"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
}

fn split_row(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut it = line.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some('n') => out.last_mut().unwrap().push('\n'),
                Some('r') => out.last_mut().unwrap().push('\r'),
                Some('t') => out.last_mut().unwrap().push('\t'),
                Some('0') => out.last_mut().unwrap().push('\0'),
                Some(o) => out.last_mut().unwrap().push(o),
                None => {}
            },
            ':' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Parses a db_text file's contents.
pub fn parse(text: &str) -> Result<Table, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty file: no header line")?;
    let mut columns = Vec::new();
    let mut nullable = Vec::new();
    for col in header.split_whitespace() {
        let (name, rest) = col
            .split_once('(')
            .ok_or_else(|| format!("bad column `{col}`"))?;
        columns.push(name.to_string());
        nullable.push(rest.contains("null"));
    }
    let mut rows = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_row(line);
        let mut row = Vec::with_capacity(columns.len());
        for (i, n) in nullable.iter().enumerate() {
            let f = fields.get(i).cloned().unwrap_or_default();
            row.push(if f.is_empty() && *n { None } else { Some(f) });
        }
        rows.push(row);
    }
    Ok(Table { columns, rows })
}

/// Reads `path`; a missing file is an empty table with no columns.
pub fn read(path: &Path) -> Result<Table, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => parse(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Table::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes `header` and `rows` (already escaped lines) to `path` through a
/// temporary file and a rename, so a crash leaves the old or the new file.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_escapes() {
        let mut row = String::new();
        escape("sip:alice@1.2.3.4:5060", &mut row);
        assert_eq!(row, "sip\\:alice@1.2.3.4\\:5060");
        let t = parse(&format!(
            "{SUBSCRIBER_HEADER}\n1:alice:example.com:pw\\:x:ab:cd\n"
        ))
        .unwrap();
        let m = t.maps();
        assert_eq!(m[0]["password"], Some("pw:x"));
        assert_eq!(m[0]["domain"], Some("example.com"));
        let t = parse("a(int) b(string,null)\n1:\n").unwrap();
        assert_eq!(t.rows[0], vec![Some("1".to_string()), None]);
    }
}
