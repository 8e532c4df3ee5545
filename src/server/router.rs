//! uWebSockets.js route patterns: static segments, `:name` parameters and a trailing `*`.
//! Among matching routes the most specific wins, segment by segment: static before
//! parameter before wildcard; on a tie the route registered first wins.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param,
    Wildcard,
}

#[derive(Debug, Clone)]
pub struct Pattern {
    segments: Vec<Segment>,
}

impl Pattern {
    pub fn parse(pattern: &str) -> Pattern {
        let segments = split(pattern)
            .map(|s| {
                if s == "*" {
                    Segment::Wildcard
                } else if s.starts_with(':') {
                    Segment::Param
                } else {
                    Segment::Static(s.to_string())
                }
            })
            .collect();
        Pattern { segments }
    }

    /// Matches a URL path; returns the rank (lower is more specific) and parameter values.
    fn matches(&self, path: &str) -> Option<(Vec<u8>, Vec<String>)> {
        let mut rank = Vec::with_capacity(self.segments.len());
        let mut params = Vec::new();
        let mut parts = split(path);
        for seg in &self.segments {
            match seg {
                Segment::Wildcard => {
                    rank.push(2);
                    return Some((rank, params));
                }
                Segment::Static(s) => {
                    if parts.next()? != s {
                        return None;
                    }
                    rank.push(0);
                }
                Segment::Param => {
                    params.push(parts.next()?.to_string());
                    rank.push(1);
                }
            }
        }
        parts.next().is_none().then_some((rank, params))
    }
}

/// Segments of a path; the leading slash is ignored, other empty segments are kept.
fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// The index of the best route for `path` among `patterns`, and its parameter values.
pub fn best_match<'a>(
    patterns: impl Iterator<Item = &'a Pattern>,
    path: &str,
) -> Option<(usize, Vec<String>)> {
    let mut best: Option<(usize, Vec<u8>, Vec<String>)> = None;
    for (i, p) in patterns.enumerate() {
        if let Some((rank, params)) = p.matches(path) {
            if best.as_ref().is_none_or(|(_, r, _)| rank < *r) {
                best = Some((i, rank, params));
            }
        }
    }
    best.map(|(i, _, params)| (i, params))
}

/// Every route matching `path` among `(index, pattern)` pairs, most specific first (ties:
/// the order given), each with its parameter values. HTTP routes use it to offer a
/// request to the next route when a handler yields.
pub fn ranked_matches<'a>(
    patterns: impl Iterator<Item = (usize, &'a Pattern)>,
    path: &str,
) -> Vec<(usize, Vec<String>)> {
    let mut found: Vec<(usize, Vec<u8>, Vec<String>)> = patterns
        .filter_map(|(i, p)| p.matches(path).map(|(rank, params)| (i, rank, params)))
        .collect();
    // Stable: equal ranks keep the order given.
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
        .into_iter()
        .map(|(i, _, params)| (i, params))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(patterns: &[&str], path: &str) -> Option<(usize, Vec<String>)> {
        let ps: Vec<Pattern> = patterns.iter().map(|p| Pattern::parse(p)).collect();
        best_match(ps.iter(), path)
    }

    #[test]
    fn wildcard_matches_everything() {
        assert_eq!(route(&["/*"], "/").unwrap().0, 0);
        assert_eq!(route(&["/*"], "/a/b/c").unwrap().0, 0);
    }

    #[test]
    fn static_beats_param_beats_wildcard() {
        let ps = ["/*", "/chat/:room", "/chat/lobby"];
        assert_eq!(route(&ps, "/chat/lobby").unwrap().0, 2);
        assert_eq!(route(&ps, "/chat/x"), Some((1, vec!["x".to_string()])));
        assert_eq!(route(&ps, "/other").unwrap().0, 0);
    }

    #[test]
    fn unmatched_and_length_mismatch() {
        assert_eq!(route(&["/a/:b"], "/a"), None);
        assert_eq!(route(&["/a/:b"], "/a/b/c"), None);
        assert_eq!(route(&["/a"], "/b"), None);
    }

    #[test]
    fn ranked_matches_orders_by_specificity_then_registration() {
        let ps: Vec<Pattern> = ["/*", "/a/:x", "/a/b", "/:y/b", "/a/b"]
            .iter()
            .map(|p| Pattern::parse(p))
            .collect();
        let found = ranked_matches(ps.iter().enumerate(), "/a/b");
        let order: Vec<usize> = found.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, vec![2, 4, 1, 3, 0]);
        assert_eq!(found[2].1, vec!["b".to_string()]);
        assert!(ranked_matches(ps.iter().enumerate(), "/c/d/e").len() == 1);
    }

    #[test]
    fn first_registered_wins_ties() {
        assert_eq!(route(&["/:x", "/:y"], "/v").unwrap().0, 0);
    }
}
