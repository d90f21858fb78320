//! What a YAML parse error says, once for every file this crate parses (catalog files, locks,
//! requests): the first line of serde-saphyr's message without its location prefix, and its
//! resource-budget breaches (alias bombs, huge documents) in words instead of Rust debug syntax.

/// `(line, column, message)` of a YAML error (`(0, 0, …)` when it has no location).
pub fn yaml_error(e: &serde_saphyr::Error) -> (u32, u32, String) {
    let (line, column) = e
        .location()
        .map(|l| (l.line() as u32, l.column() as u32))
        .unwrap_or((0, 0));
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("").trim();
    let message = first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("line "))
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| first.to_string());
    (line, column, budget_in_words(&message).unwrap_or(message))
}

/// `budget breached: Nodes { nodes: 250001 }` → what the limit is and why it is there.
fn budget_in_words(message: &str) -> Option<String> {
    let (before, breach) = message.split_once("budget breached: ")?;
    let (kind, inner) = breach.split_once(" {")?;
    let count: String = inner.chars().filter(char::is_ascii_digit).collect();
    let what = match kind {
        "Events" => "parser events",
        "Aliases" => "alias uses (`*name`)",
        "Anchors" => "anchors (`&name`)",
        "Depth" | "InclusionDepth" => "levels of nesting",
        "Documents" => "documents",
        "Nodes" => "values (aliases count each time they are used)",
        "ScalarBytes" | "TotalScalarBytes" => "bytes of text",
        "MergeKeys" => "merge keys (`<<`)",
        _ => "YAML elements",
    };
    Some(format!(
        "{before}the YAML is larger than this reader accepts: {count} {what}; \
         a file written by hand or by bundle is far smaller (an alias bomb, or the wrong file?)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_breaches_in_words() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        let e = serde_saphyr::from_str::<serde_json::Value>(bomb).unwrap_err();
        let (line, _, message) = yaml_error(&e);
        assert!(line > 0, "{message}");
        assert!(
            message.contains("larger than this reader accepts") && !message.contains('{'),
            "{message}"
        );
    }
}
