//! The compatibility matrix: catalog × Kubernetes minors → JSON, Markdown, HTML.
