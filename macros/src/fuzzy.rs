//! Nearest-name suggestions for misspelt keys, transports, mixins and hook names.

/// The edit distance between `a` and `b` over chars, counting an insertion, a deletion, a
/// substitution or a swap of two neighbours (`Tpc` for `Tcp`) as one edit (optimal string
/// alignment).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
    fn counts_swaps_as_one_edit() {
        assert_eq!(distance("Tpc", "Tcp"), 1);
        assert_eq!(distance("handel", "handle"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

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
        assert_eq!(nearest("Tpc", &["Tcp", "Udp", "UnixStream"]), Some("Tcp"));
        assert_eq!(nearest("tcp", &["Tcp", "Udp", "UnixStream"]), Some("Tcp"));
        assert_eq!(nearest("Http", &["Tcp", "Udp", "UnixStream"]), None);
    }
}
