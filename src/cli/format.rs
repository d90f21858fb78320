//! Small formatting helpers shared by the commands' tables and summaries.

/// `sha256:` and the first 12 hex digits.
pub(super) fn short_digest(d: &str) -> String {
    d.get(..19).unwrap_or(d).to_string()
}

/// Bytes for people: `512 B`, `1.5 KiB`, `2.0 MiB`.
pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
