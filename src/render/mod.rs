//! Rendering the locked platform into digest-pinned Kubernetes manifests (minijinja templates under `templates/`).
