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

/// Longest run of non-blank characters printed as it is in a message; longer ones are cut.
const LONGEST_WORD: usize = 200;

/// A message as it is printed: control characters (raw binary from a file, escape sequences) shown
/// as `\u{…}` escapes, and any run of more than [`LONGEST_WORD`] non-blank characters (a 1 MB
/// argument echoed back) cut to its start and its length.
pub(super) fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4096));
    for (i, line) in message.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut word = 0usize;
        let mut cut = false;
        for c in line.chars() {
            if c == ' ' || c == '\t' {
                if cut {
                    out.push_str(&format!("…[{word} characters]"));
                }
                word = 0;
                cut = false;
                out.push(c);
                continue;
            }
            word += 1;
            if word > LONGEST_WORD {
                cut = true;
                continue;
            }
            if c.is_control() || c == '\u{fffd}' {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            } else {
                out.push(c);
            }
        }
        if cut {
            out.push_str(&format!("…[{word} characters]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_printable_and_bounded() {
        assert_eq!(printable("a `b` c\n  hint"), "a `b` c\n  hint");
        let long = format!("--with: `{}` is not", "1".repeat(100_000));
        let p = printable(&long);
        assert!(
            p.len() < 300 && p.ends_with("…[100002 characters] is not"),
            "{p}"
        );
        assert_eq!(printable("x\u{1b}[2J\u{0}"), "x\\u{1b}[2J\\u{0}");
    }
}
