//! Nearest-name suggestions for misspelt keys and hook names.

/// The Levenshtein distance between `a` and `b`, over chars.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidate nearest to `name`, if it is close enough to be a likely misspelling:
/// within a third of its length, or equal ignoring case and underscores.
pub fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| s.replace('_', "").to_lowercase();
    candidates
        .iter()
        .map(|c| (distance(name, c), *c))
        .filter(|&(d, c)| d <= (c.len() / 3).max(1) || squash(name) == squash(c))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            nearest("handel", &["setup", "handle", "finish"]),
            Some("handle")
        );
        assert_eq!(
            nearest("set_up", &["setup", "handle", "finish"]),
            Some("setup")
        );
        assert_eq!(
            nearest("setUp", &["setup", "handle", "finish"]),
            Some("setup")
        );
        assert_eq!(nearest("helper", &["setup", "handle", "finish"]), None);
        assert_eq!(
            nearest("max_child", &["max_children", "timeout"]),
            Some("max_children")
        );
    }
}
