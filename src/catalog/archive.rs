//! A catalog as one tar archive, so that it can travel inside a bundle next to the lock and be
//! read on the far side of the air gap: written deterministically from the files it was loaded
//! from, read back into the same catalog (same digest).

use std::io::{Read, Write};

use super::diagnostics::{Diagnostic, LoadError};
use super::{Catalog, load};

/// The most a catalog archive may hold (uncompressed), a guard against a hostile archive.
pub const MAX_ARCHIVE_BYTES: u64 = 64 << 20;

fn archive_error(origin: &str, message: String) -> LoadError {
    LoadError {
        diagnostics: vec![Diagnostic {
            file: origin.to_string(),
            line: 0,
            column: 0,
            field: None,
            message,
            hint: Some(
                "a catalog archive holds catalog.yaml, components/*.yaml and profiles/*.yaml"
                    .into(),
            ),
        }],
    }
}

/// Whether `path` is one of the files a catalog is read from.
fn catalog_path(path: &str) -> bool {
    let yaml = |n: &str| n.ends_with(".yaml") || n.ends_with(".yml");
    match path.split_once('/') {
        None => path == "catalog.yaml",
        Some((dir, name)) => {
            matches!(dir, "components" | "profiles")
                && yaml(name)
                && !name.contains('/')
                && !name.starts_with('.')
        }
    }
}

impl Catalog {
    /// Writes the files this catalog was read from as a tar archive: paths relative to the
    /// catalog root, in path order, with fixed metadata (mode 0644, time 0, no owner), so the same
    /// catalog always gives the same bytes.
    pub fn write_tar<W: Write>(&self, w: W) -> std::io::Result<W> {
        let mut b = tar::Builder::new(w);
        b.mode(tar::HeaderMode::Deterministic);
        let mut files: Vec<_> = self.files.iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        for f in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(f.text.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, &f.path, f.text.as_bytes())?;
        }
        b.into_inner()
    }

    /// Reads a catalog from a tar archive as [`Catalog::write_tar`] writes it. Entries outside
    /// `catalog.yaml`, `components/` and `profiles/` are ignored; links, absolute paths and `..`
    /// are refused; the archive may hold at most [`MAX_ARCHIVE_BYTES`]. `origin` names the archive
    /// in messages and in [`Catalog::origin`].
    pub fn from_tar<R: Read>(origin: &str, reader: R) -> Result<Catalog, LoadError> {
        let mut archive = tar::Archive::new(reader.take(MAX_ARCHIVE_BYTES + 1));
        let entries = archive
            .entries()
            .map_err(|e| archive_error(origin, format!("not a tar archive: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let mut entry =
                entry.map_err(|e| archive_error(origin, format!("unreadable archive: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| archive_error(origin, format!("unreadable entry name: {e}")))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let kind = entry.header().entry_type();
            if path.starts_with('/') || path.split('/').any(|p| p == "..") {
                return Err(archive_error(
                    origin,
                    format!("entry `{path}` points outside the catalog"),
                ));
            }
            if kind.is_dir() || !catalog_path(&path) {
                continue;
            }
            if !kind.is_file() {
                return Err(archive_error(
                    origin,
                    format!("entry `{path}` is not a regular file"),
                ));
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(|e| {
                archive_error(
                    origin,
                    format!("entry `{path}`: {e} (catalog files are UTF-8 text)"),
                )
            })?;
            files.push((path, text));
        }
        let total: usize = files.iter().map(|(p, t)| p.len() + t.len()).sum();
        if total as u64 > MAX_ARCHIVE_BYTES {
            return Err(archive_error(
                origin,
                format!("more than {MAX_ARCHIVE_BYTES} bytes: not a catalog"),
            ));
        }
        if !files.iter().any(|(p, _)| p == "catalog.yaml") {
            return Err(archive_error(
                origin,
                "not a catalog: catalog.yaml is missing".to_string(),
            ));
        }
        load::from_files_with_prefix(origin, files, &format!("{origin}:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, text) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the name field directly like a hostile archive would
            let name = &mut h.as_gnu_mut().unwrap().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    const TOP: &str = "apiVersion: bundle/v1\nkind: Catalog\ncapabilities: []\n";

    #[test]
    fn round_trip_and_refusals() {
        let cat = Catalog::from_tar(
            "a.tar",
            &tar_of(&[("catalog.yaml", TOP), ("README.md", "x")])[..],
        )
        .unwrap();
        assert_eq!(cat.origin, "a.tar");
        assert_eq!(cat.files.len(), 1);
        let again = Catalog::from_tar("b.tar", &cat.write_tar(Vec::new()).unwrap()[..]).unwrap();
        assert_eq!(again.digest, cat.digest);
        assert_eq!(
            cat.write_tar(Vec::new()).unwrap(),
            again.write_tar(Vec::new()).unwrap()
        );

        let e = Catalog::from_tar("x.tar", &tar_of(&[("components/../../etc.yaml", TOP)])[..])
            .unwrap_err();
        assert!(e.to_string().contains("points outside the catalog"), "{e}");
        let e = Catalog::from_tar("x.tar", &tar_of(&[("components/a.yaml", TOP)])[..]).unwrap_err();
        assert!(e.to_string().contains("catalog.yaml is missing"), "{e}");
        let e =
            Catalog::from_tar("x.tar", &b"not a tar archive at all, just text"[..]).unwrap_err();
        assert!(e.to_string().starts_with("x.tar: "), "{e}");
        let bad = TOP.replace("capabilities: []", "capabilities: 3");
        let e = Catalog::from_tar("x.tar", &tar_of(&[("catalog.yaml", &bad)])[..]).unwrap_err();
        assert!(e.to_string().starts_with("x.tar:catalog.yaml:3:"), "{e}");
    }

    #[test]
    fn only_catalog_files() {
        assert!(catalog_path("catalog.yaml"));
        assert!(catalog_path("components/a.yaml"));
        assert!(catalog_path("profiles/default.yml"));
        assert!(!catalog_path("components/sub/a.yaml"));
        assert!(!catalog_path("components/.a.yaml"));
        assert!(!catalog_path("FORMAT.md"));
        assert!(!catalog_path("other/a.yaml"));
    }
}
