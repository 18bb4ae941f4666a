//! `--name value` flags, shared by the examples and the benchmark's binaries (included by
//! path from `bench/src/common.rs`).
#![allow(dead_code)] // each includer uses a part

use std::fmt;
use std::str::FromStr;

/// Reads `--flag value` pairs and bare `--switch`es from the command line.
#[derive(Debug, Default)]
pub struct Flags {
    pairs: Vec<(String, Option<String>)>,
}

impl Flags {
    /// Splits `args`: `--name=value`, or a `--name` followed by a word not starting with
    /// `--`, which is its value; `-h` is `--help`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Flags, String> {
        let mut pairs = Vec::new();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let arg = if arg == "-h" {
                "--help".to_owned()
            } else {
                arg
            };
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => match args.peek() {
                    Some(next) if !next.starts_with("--") => (flag.to_owned(), args.next()),
                    _ => (flag.to_owned(), None),
                },
            };
            pairs.push((name, value));
        }
        Ok(Flags { pairs })
    }

    /// The value of `--name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The value of `--name`, or `default`.
    pub fn value_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.value(name).unwrap_or(default)
    }

    /// Every value of a repeatable `--name`, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// Checks that each flag takes a value but the `switches`, which take none: the first
    /// that breaks this, as a usage message.
    pub fn check_values(&self, switches: &[&str]) -> Result<(), String> {
        for (name, value) in &self.pairs {
            match (switches.contains(&name.as_str()), value) {
                (false, None) => return Err(format!("`--{name}` needs a value")),
                (true, Some(value)) => {
                    return Err(format!("`--{name}` takes no value (found `{value}`)"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `--name` was given at all.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// The value of `--name` parsed, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: fmt::Display,
    {
        match self.value(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("--{name} {v}: {e}")),
        }
    }

    /// Fails on a flag not in `known`.
    pub fn check(&self, known: &[&str]) -> Result<(), String> {
        match self
            .pairs
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown flag `--{n}`")),
            None => Ok(()),
        }
    }
}
