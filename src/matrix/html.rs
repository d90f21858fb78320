//! `--format html`: a self-contained page (inline CSS and JS, no external assets).
//!
//! The page itself is a pure function of the matrix; only the "end of life" colour is decided in
//! the browser, against the day the page is viewed (the dates are in `data-eol`/`data-retired`).

use std::fmt::Write as _;

use super::{Cell, Marks, Matrix, Platform};

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --newest: #c8ecc9; --older: #fff1b8; --eol: #f7c9c9; --none: #ececec; --ink: #1f2328; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
header { padding: 16px 24px 8px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 24px 24px 8px; }
p { margin: 4px 0; max-width: 110ch; }
.muted { color: #59636e; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
.tools { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; padding: 8px 24px; }
#filter { font: inherit; padding: 6px 10px; width: 280px; border: 1px solid var(--line); border-radius: 6px; }
.legend > span { display: inline-block; padding: 2px 8px; margin-right: 6px; border-radius: 4px; border: 1px solid var(--line); }
.scroll { margin: 0 24px; width: fit-content; max-width: calc(100% - 48px); overflow: auto; max-height: 72vh; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: separate; border-spacing: 0; }
th, td { padding: 5px 10px; border-right: 1px solid var(--line); border-bottom: 1px solid var(--line); white-space: nowrap; text-align: center; vertical-align: top; }
thead th { position: sticky; top: 0; z-index: 2; background: #24292f; color: #fff; font-weight: 600; }
thead th small { display: block; font-weight: 400; color: #c9d1d9; font-size: 11px; }
tbody th { position: sticky; left: 0; z-index: 1; background: #f6f8fa; text-align: left; font-weight: 600; }
thead th:first-child { left: 0; z-index: 3; text-align: left; }
td small { display: block; font-size: 11px; color: #4b535c; }
td.newest { background: var(--newest); font-weight: 600; }
td.older { background: var(--older); }
td.eol { background: var(--eol); }
td.untested { background-image: repeating-linear-gradient(135deg, transparent 0 6px, rgba(110, 84, 148, .18) 6px 8px); outline: 2px dashed #6e5494; outline-offset: -3px; }
td.none { background: var(--none); color: #8c959f; }
td.none, td[title] { cursor: help; }
tr.hidden { display: none; }
tr.k8s th, tr.k8s td { background: #eef2f7; font-weight: 600; }
ul.why { margin: 8px 24px 24px; padding-left: 20px; max-width: 140ch; }
ul.why li { margin: 4px 0; }
ul.why .src { color: #59636e; font-size: 12px; word-break: break-all; }
footer { margin: 24px; color: #59636e; font-size: 12px; }
"#;

const SCRIPT: &str = r#"
(function () {
  var today = new Date().toISOString().slice(0, 10);
  document.getElementById('today').textContent = today;
  document.querySelectorAll('td[data-eol], td[data-retired]').forEach(function (td) {
    var e = td.getAttribute('data-eol'), r = td.getAttribute('data-retired');
    if ((e && e <= today) || (r && r <= today)) { td.classList.add('eol'); }
  });
  var box = document.getElementById('filter');
  var count = document.getElementById('count');
  function apply() {
    var q = box.value.trim().toLowerCase(), shown = 0;
    document.querySelectorAll('tr[data-name]').forEach(function (tr) {
      var hit = !q || tr.getAttribute('data-name').indexOf(q) >= 0;
      tr.classList.toggle('hidden', !hit);
      if (hit && tr.closest('#components')) { shown++; }
    });
    count.textContent = shown + ' component' + (shown === 1 ? '' : 's');
  }
  box.addEventListener('input', apply);
  apply();
})();
"#;

fn version_td(component: &str, version: &str, minor: &str, marks: &Marks) -> String {
    let class = match (marks.newest, marks.untested) {
        (true, false) => "newest",
        (false, false) => "older",
        (true, true) => "newest untested",
        (false, true) => "older untested",
    };
    let mut title = format!("{component} {version} with Kubernetes {minor}");
    title.push_str(if marks.newest {
        "\nthe newest version in the catalog"
    } else {
        "\nan older version (a newer one is in the catalog)"
    });
    if marks.untested {
        title.push_str(
            "\nuntested: upstream publishes no Kubernetes range for it (or for a release it needs); \
             chosen only with --allow-untested",
        );
    }
    let mut data = String::new();
    if let Some(d) = marks.end_of_life {
        let _ = write!(title, "\nend of life: {d}");
        let _ = write!(data, " data-eol=\"{d}\"");
    }
    if let Some(d) = marks.retired {
        let _ = write!(title, "\nproject retired: {d}");
        let _ = write!(data, " data-retired=\"{d}\"");
    }
    let label = marks.label();
    let small = if label.is_empty() {
        String::new()
    } else {
        format!("<small>{}</small>", esc(&label))
    };
    format!(
        "<td class=\"{class}\"{data} title=\"{}\">{}{small}</td>",
        esc(&title),
        esc(version)
    )
}

fn head_row(out: &mut String, m: &Matrix, with_eol: bool) {
    out.push_str("<thead><tr><th scope=\"col\">Component</th>");
    for minor in &m.minors {
        let sub = if with_eol {
            let label = minor.marks.label();
            format!(
                "<small>{}</small>{}",
                esc(&minor.newest.to_string()),
                if label.is_empty() {
                    String::new()
                } else {
                    format!("<small>{}</small>", esc(&label))
                }
            )
        } else {
            String::new()
        };
        let _ = write!(out, "<th scope=\"col\">{}{sub}</th>", esc(&minor.name));
    }
    out.push_str("</tr></thead>\n");
}

/// The page head, the introduction and the legend.
fn intro(out: &mut String, m: &Matrix) {
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"bundle matrix --format html\">\n");
    out.push_str("<title>Compatibility matrix — bundle</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<header>\n<h1>Compatibility matrix</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"muted\">Built by <code>bundle matrix</code> from the catalog <code>{}</code>{}.</p>",
        esc(&m.catalog),
        m.kubernetes_range
            .as_ref()
            .map(|r| format!(", Kubernetes <code>{}</code> only", esc(&r.to_string())))
            .unwrap_or_default()
    );
    out.push_str(
        "<p>Each cell: the newest version of the component that installs with some Kubernetes release of \
         that minor, as the solver decides it (indirect constraints count). End-of-life and retired versions \
         are included and marked with the catalog's dates. A version marked untested has no published \
         Kubernetes range (or needs a release that has none): it is shown only where nothing tested installs, \
         and the solver chooses it only with --allow-untested. Hover a cell for details; an empty cell says why.</p>\n",
    );
    out.push_str("</header>\n<div class=\"tools\">\n");
    out.push_str(
        "<input id=\"filter\" type=\"search\" placeholder=\"Filter components…\" \
         aria-label=\"Filter components by name\" autocomplete=\"off\">\n<span id=\"count\" class=\"muted\"></span>\n",
    );
    out.push_str(
        "<span class=\"legend\"><span style=\"background:var(--newest)\">newest in catalog</span>\
         <span style=\"background:var(--older)\">older version</span>\
         <span style=\"background:var(--eol)\">past end of life on <span id=\"today\">today</span></span>\
         <span style=\"background:var(--none)\">none installs</span>\
         <span style=\"outline:2px dashed #6e5494;outline-offset:-3px\">untested</span></span>\n</div>\n",
    );
}

/// The components × minors table.
fn components_table(out: &mut String, m: &Matrix) {
    out.push_str("<h2>Components by Kubernetes minor</h2>\n<div class=\"scroll\">\n<table id=\"components\">\n");
    head_row(out, m, true);
    out.push_str("<tbody>\n");
    for row in &m.rows {
        let provides = if row.provides.is_empty() {
            String::new()
        } else {
            format!(" title=\"provides {}\"", esc(&row.provides.join(", ")))
        };
        let _ = write!(
            out,
            "<tr data-name=\"{}\"><th scope=\"row\"{provides}>{}</th>",
            esc(&row.name.to_lowercase()),
            esc(&row.name)
        );
        for (minor, cell) in m.minors.iter().zip(&row.cells) {
            match cell {
                Cell::Version { version, marks } => {
                    out.push_str(&version_td(
                        &row.name,
                        &version.to_string(),
                        &minor.name,
                        marks,
                    ));
                }
                Cell::None(r) => {
                    let mut title = format!(
                        "no version of {} installs with Kubernetes {}:\n{}",
                        row.name, minor.name, r.text
                    );
                    if let Some(s) = &r.source {
                        let _ = write!(title, "\nsource: {s}");
                    }
                    let _ = write!(out, "<td class=\"none\" title=\"{}\">—</td>", esc(&title));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

/// The platform × minors table.
fn platform_table(out: &mut String, m: &Matrix) {
    out.push_str("<h2>The platform by Kubernetes minor</h2>\n");
    let r = &m.request;
    let with: Vec<String> = r.with.iter().map(|w| w.to_string()).collect();
    let _ = writeln!(
        out,
        "<p style=\"margin:0 24px 8px\">The request ({}): Kubernetes <code>{}</code>, with <code>{}</code>{}; \
         solved per minor as <code>bundle solve --kubernetes '~MINOR' --allow-eol</code> solves it.</p>",
        esc(&m.request_label),
        esc(&r.kubernetes.to_string()),
        esc(&with.join(", ")),
        if r.without.is_empty() {
            String::new()
        } else {
            format!(", without <code>{}</code>", esc(&r.without.join(", ")))
        }
    );
    out.push_str("<div class=\"scroll\">\n<table id=\"platforms\">\n");
    head_row(out, m, false);
    out.push_str("<tbody>\n<tr class=\"k8s\"><th scope=\"row\">Kubernetes</th>");
    for (minor, p) in m.minors.iter().zip(&m.platforms) {
        match p {
            Platform::Solved { kubernetes, .. } => {
                let _ = write!(out, "<td>{}</td>", esc(&kubernetes.to_string()));
            }
            Platform::Conflict { summary, .. } => {
                let _ = write!(
                    out,
                    "<td class=\"none\" title=\"{}\">no platform</td>",
                    esc(&format!(
                        "no platform for Kubernetes {}:\n{summary}",
                        minor.name
                    ))
                );
            }
        }
    }
    out.push_str("</tr>\n");
    for name in m.platform_components() {
        let _ = write!(
            out,
            "<tr data-name=\"{}\"><th scope=\"row\">{}</th>",
            esc(&name.to_lowercase()),
            esc(name)
        );
        for (minor, p) in m.minors.iter().zip(&m.platforms) {
            let pick = match p {
                Platform::Solved { components, .. } => components.iter().find(|c| c.name == name),
                Platform::Conflict { .. } => None,
            };
            match pick {
                Some(c) => out.push_str(&version_td(
                    name,
                    &c.version.to_string(),
                    &minor.name,
                    &c.marks,
                )),
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

/// Why there is no platform for some minors.
fn conflict_list(out: &mut String, m: &Matrix) {
    let conflicts = m.conflicts();
    if !conflicts.is_empty() {
        out.push_str("<ul class=\"why\">\n");
        for (minor, core, facts) in conflicts {
            let _ = write!(
                out,
                "<li><b>No platform for Kubernetes {}</b>: the smallest conflicting part of the request is <code>{}</code>.<ul>",
                esc(&minor.name),
                esc(&if core.is_empty() {
                    "the Kubernetes minor itself".to_string()
                } else {
                    core.join(" + ")
                })
            );
            for f in facts {
                let _ = write!(out, "<li>{} {}", esc(&f.subject), esc(&f.text));
                if let Some(s) = &f.source {
                    let _ = write!(out, " <span class=\"src\">— {}</span>", esc(s));
                }
                out.push_str("</li>");
            }
            out.push_str("</ul></li>\n");
        }
        out.push_str("</ul>\n");
    }
}

/// The matrix as one self-contained HTML page.
pub fn to_html(m: &Matrix) -> String {
    let mut out = String::new();
    intro(&mut out, m);
    components_table(&mut out, m);
    platform_table(&mut out, m);
    conflict_list(&mut out, m);
    out.push_str(
        "<footer>Generated by <code>bundle matrix --format html</code>; the same data as JSON: \
         <code>bundle matrix --format json</code>.</footer>\n<script>",
    );
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}
