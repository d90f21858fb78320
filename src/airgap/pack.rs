//! Deterministic archives: the same files give the same bytes.
//!
//! Entries are in a fixed order, with mtime 0, uid/gid 0, no user or group names, mode 0644 for
//! files and 0755 for directories (GNU headers, so blobs over 8 GiB fit). A layout is archived as
//! `oci-layout`, `index.json`, then `blobs/`, `blobs/sha256/` and every blob sorted by name: readers
//! that stream the archive meet the index first. Blobs are stored as they are; `.tar.zst` compresses
//! the whole stream (zstd level 3), it never recompresses a layer.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::parts::{PartsFile, PartsWriter};
use crate::oci::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE, PARTIAL_SUFFIX};
use crate::types::Digest;

/// zstd level used for `.tar.zst`.
pub const ZSTD_LEVEL: i32 = 3;

/// How an archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain `.tar`.
    None,
    /// `.tar.zst`, zstd level [`ZSTD_LEVEL`].
    Zstd,
}

/// Packing failed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PackError {
    /// The path read or written.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError {
        path: path.to_path_buf(),
        source,
    }
}

fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h
}

/// A tar of in-memory files (`path` with `/` → contents), sorted by path, files only.
pub fn tar_files(files: &BTreeMap<String, String>) -> Result<Vec<u8>, std::io::Error> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut h = header(tar::EntryType::Regular, text.len() as u64);
        builder.append_data(&mut h, path, text.as_bytes())?;
    }
    builder.into_inner()
}

/// The entries of a layout in archive order: (name in the archive, path on disk; `None` for a directory).
fn layout_entries(dir: &Path) -> Result<Vec<(String, Option<PathBuf>)>, PackError> {
    let mut entries = vec![
        (OCI_LAYOUT_FILE.to_string(), Some(dir.join(OCI_LAYOUT_FILE))),
        (INDEX_FILE.to_string(), Some(dir.join(INDEX_FILE))),
    ];
    let signature = dir.join(super::signing::SIGNATURE_FILE);
    if signature.is_file() {
        let name = super::signing::SIGNATURE_FILE.to_string();
        entries.push((name, Some(signature)));
    }
    let mut prefix = String::new();
    for part in BLOBS_DIR.split('/') {
        prefix.push_str(part);
        prefix.push('/');
        entries.push((prefix.clone(), None));
    }
    let blobs = dir.join(BLOBS_DIR);
    let mut names = Vec::new();
    for e in fs::read_dir(&blobs).map_err(err(&blobs))? {
        let e = e.map_err(err(&blobs))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if Digest::from_sha256_hex(&name).is_ok() {
            names.push(name);
        }
    }
    names.sort();
    for n in names {
        entries.push((format!("{prefix}{n}"), Some(blobs.join(&n))));
    }
    Ok(entries)
}

/// Archives the layout in `dir` as `out` (written to `out` + [`PARTIAL_SUFFIX`], then renamed).
/// Returns the archive's size in bytes. Files are streamed: memory stays flat.
pub fn pack_layout(dir: &Path, out: &Path, compression: Compression) -> Result<u64, PackError> {
    pack_layout_split(dir, out, compression, None).map(|p| p.bytes)
}

/// What [`pack_layout_split`] wrote.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The archive's size in bytes (all parts together).
    pub bytes: u64,
    /// For a split archive: the parts file written and its path.
    pub parts: Option<(PartsFile, PathBuf)>,
}

/// Archives the layout in `dir` as `out`, or with `max_part` as the parts `out.001`, `out.002`, … of at
/// most that many bytes each plus the parts file `out.parts` ([`crate::airgap::parts`]; written last,
/// so that an interrupted run leaves no parts file). Files are streamed: memory stays flat.
pub fn pack_layout_split(
    dir: &Path,
    out: &Path,
    compression: Compression,
    max_part: Option<u64>,
) -> Result<Packed, PackError> {
    let entries = layout_entries(dir)?;
    if let Some(max) = max_part {
        let writer = PartsWriter::create(out, max).map_err(err(out))?;
        let writer = match compression {
            Compression::None => write_entries(writer, &entries, out)?,
            Compression::Zstd => {
                let enc = zstd::Encoder::new(writer, ZSTD_LEVEL).map_err(err(out))?;
                write_entries(enc, &entries, out)?
                    .finish()
                    .map_err(err(out))?
            }
        };
        let (file, path) = writer.finish().map_err(err(out))?;
        return Ok(Packed {
            bytes: file.size,
            parts: Some((file, path)),
        });
    }
    let mut temp_name = out.file_name().unwrap_or_default().to_os_string();
    temp_name.push(PARTIAL_SUFFIX);
    let temp = out.with_file_name(temp_name);
    let result = (|| {
        let file = fs::File::create(&temp).map_err(err(&temp))?;
        let writer = BufWriter::with_capacity(1024 * 1024, file);
        match compression {
            Compression::None => {
                let w = write_entries(writer, &entries, &temp)?;
                finish_file(w, &temp)?;
            }
            Compression::Zstd => {
                let enc = zstd::Encoder::new(writer, ZSTD_LEVEL).map_err(err(&temp))?;
                let enc = write_entries(enc, &entries, &temp)?;
                let w = enc.finish().map_err(err(&temp))?;
                finish_file(w, &temp)?;
            }
        }
        fs::rename(&temp, out).map_err(err(out))?;
        fs::metadata(out).map(|m| m.len()).map_err(err(out))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|bytes| Packed { bytes, parts: None })
}

fn finish_file(w: BufWriter<fs::File>, temp: &Path) -> Result<(), PackError> {
    let file = w.into_inner().map_err(|e| err(temp)(e.into_error()))?;
    file.sync_all().map_err(err(temp))
}

fn write_entries<W: Write>(
    w: W,
    entries: &[(String, Option<PathBuf>)],
    temp: &Path,
) -> Result<W, PackError> {
    let mut builder = tar::Builder::new(w);
    for (name, path) in entries {
        match path {
            None => {
                let mut h = header(tar::EntryType::Directory, 0);
                builder
                    .append_data(&mut h, name, std::io::empty())
                    .map_err(err(temp))?;
            }
            Some(p) => {
                let file = fs::File::open(p).map_err(err(p))?;
                let size = file.metadata().map_err(err(p))?.len();
                let mut h = header(tar::EntryType::Regular, size);
                builder.append_data(&mut h, name, file).map_err(err(p))?;
            }
        }
    }
    builder.into_inner().map_err(err(temp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_tars_are_deterministic_and_plain() {
        let mut files = BTreeMap::new();
        files.insert("b/x.yaml".to_string(), "x: 1\n".to_string());
        files.insert("a.yaml".to_string(), "a: 1\n".to_string());
        let one = tar_files(&files).unwrap();
        assert_eq!(one, tar_files(&files).unwrap());
        let mut ar = tar::Archive::new(one.as_slice());
        let names: Vec<(String, u64, u32, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("a.yaml".to_string(), 0, 0o644, 0),
                ("b/x.yaml".to_string(), 0, 0o644, 0)
            ]
        );
    }
}
