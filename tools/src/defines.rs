//! `-A NAME[=VALUE]`: preprocessor symbols from the command line, as
//! Kamailio's `-A` defines them.

use sipshard_core::script::Define;

/// Parses one `-A` argument.
pub fn parse_define(arg: &str) -> Result<Define, String> {
    let (name, value) = match arg.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (arg, None),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("'{name}' is not a valid preprocessor symbol name"));
    }
    Ok(Define {
        name: name.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        let d = parse_define("WITH_AUTH").unwrap();
        assert_eq!((d.name.as_str(), d.value), ("WITH_AUTH", None));
        let d = parse_define("DBURL=text:///tmp/db").unwrap();
        assert_eq!(
            (d.name.as_str(), d.value.as_deref()),
            ("DBURL", Some("text:///tmp/db"))
        );
        assert!(parse_define("1BAD").is_err());
        assert!(parse_define("=x").is_err());
    }
}
