//! Media-sized archives: one `.tar`/`.tar.zst` stream cut into numbered parts (`NAME.001`,
//! `NAME.002`, …, each at most `--max-size` bytes) plus a small parts file (`NAME.parts`, JSON) that
//! lists every part's name, size and sha256 and the whole stream's size and sha256
//! (`airgap/FORMAT.md`, "Split archives").
//!
//! [`PartsWriter`] is a [`Write`] that cuts what it is given into parts; [`open`] finds the parts of a
//! split archive from its parts file (or its first part) and [`PartsReader`] streams them as one
//! archive, checking every part against the parts file as it passes. Concatenating the parts gives
//! the archive byte for byte (`cat NAME.0* > NAME`), so nothing else about the format changes.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::types::{Digest, Sha256Hasher};

/// `mediaType` of a parts file.
pub const PARTS_MEDIA_TYPE: &str = "application/vnd.bundle.parts.v1+json";
/// Suffix of the parts file next to the parts (`NAME.tar.zst.parts`).
pub const PARTS_SUFFIX: &str = ".parts";
/// The limit on a parts file read into memory.
pub const MAX_PARTS_FILE: u64 = 4 * 1024 * 1024;
/// The smallest `--max-size` accepted (4 KiB): smaller parts are never what a medium needs.
pub const MIN_PART_SIZE: u64 = 4 * 1024;

/// The parts file: what a split archive is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartsFile {
    /// Always [`PARTS_MEDIA_TYPE`].
    pub media_type: String,
    /// The archive's own name (`platform.tar.zst`): the parts concatenated.
    pub archive: String,
    /// The archive's size in bytes (the sum of the parts' sizes).
    pub size: u64,
    /// The archive's sha256 (64 lower-case hex digits).
    pub sha256: String,
    /// Every part, in order.
    pub parts: Vec<Part>,
}

/// One part of a split archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Its file name, in the parts file's directory (`platform.tar.zst.001`).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256 (64 lower-case hex digits).
    pub sha256: String,
}

/// The name of part `number` (from 1) of `archive`: `archive.001`, … (more digits past 999).
pub fn part_name(archive: &str, number: usize) -> String {
    format!("{archive}.{number:03}")
}

/// The parts file of the archive at `archive`: `archive` + [`PARTS_SUFFIX`].
pub fn parts_file_for(archive: &Path) -> PathBuf {
    let mut name = archive.file_name().unwrap_or_default().to_os_string();
    name.push(PARTS_SUFFIX);
    archive.with_file_name(name)
}

/// Parses a size: a number of bytes with an optional unit, `B`, `K`/`KB` (10^3), `KiB` (2^10), `M`,
/// `MB`, `MiB`, `G`, `GB`, `GiB`, `T`, `TB`, `TiB` (case-insensitive; `4GiB`, `700 MB`, `1048576`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a size: expected a number with an optional unit (4GiB, 700MB, 1048576)"
        ));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size: the number is too large"))?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// One part being written.
struct Open {
    writer: BufWriter<File>,
    hasher: Sha256Hasher,
    size: u64,
    path: PathBuf,
}

/// A [`Write`] that cuts the stream into parts of at most `max` bytes next to `archive`
/// (`archive.001`, …), hashing each part and the whole; [`PartsWriter::finish`] writes the parts file.
pub struct PartsWriter {
    archive: PathBuf,
    max: u64,
    current: Option<Open>,
    done: Vec<Part>,
    whole: Sha256Hasher,
    total: u64,
}

impl PartsWriter {
    /// Starts writing the parts of `archive` (which itself is not written), each at most `max` bytes.
    /// A parts file left from an earlier run is removed first, so that a run that does not finish
    /// never leaves a parts file that lists other parts.
    pub fn create(archive: &Path, max: u64) -> io::Result<PartsWriter> {
        match std::fs::remove_file(parts_file_for(archive)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(PartsWriter {
            archive: archive.to_path_buf(),
            max: max.max(1),
            current: None,
            done: Vec::new(),
            whole: Sha256Hasher::new(),
            total: 0,
        })
    }

    fn archive_name(&self) -> String {
        self.archive
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some(open) = self.current.take() {
            let file = open.writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            self.done.push(Part {
                name: open
                    .path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                size: open.size,
                sha256: open.hasher.finish().hex().to_string(),
            });
        }
        Ok(())
    }

    fn open_next(&mut self) -> io::Result<()> {
        let path = self
            .archive
            .with_file_name(part_name(&self.archive_name(), self.done.len() + 1));
        let file = File::create(&path)?;
        self.current = Some(Open {
            writer: BufWriter::with_capacity(1024 * 1024, file),
            hasher: Sha256Hasher::new(),
            size: 0,
            path,
        });
        Ok(())
    }

    /// Closes the last part, removes parts of an earlier, longer run (`archive.NNN` past the last one
    /// written), and writes the parts file (through a temporary name). Returns it and its path.
    pub fn finish(mut self) -> io::Result<(PartsFile, PathBuf)> {
        if self.done.is_empty() && self.current.is_none() {
            self.open_next()?; // an empty stream still has one (empty) part
        }
        self.close_current()?;
        let name = self.archive_name();
        let mut stale = self.done.len() + 1;
        loop {
            let p = self.archive.with_file_name(part_name(&name, stale));
            match std::fs::remove_file(&p) {
                Ok(()) => stale += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        let parts = PartsFile {
            media_type: PARTS_MEDIA_TYPE.to_string(),
            archive: name,
            size: self.total,
            sha256: self.whole.finish().hex().to_string(),
            parts: self.done,
        };
        let path = parts_file_for(&self.archive);
        let mut temp = path.clone().into_os_string();
        temp.push(crate::oci::layout::PARTIAL_SUFFIX);
        let temp = PathBuf::from(temp);
        let mut text = serde_json::to_vec_pretty(&parts).map_err(io::Error::other)?;
        text.push(b'\n');
        std::fs::write(&temp, &text)?;
        File::open(&temp)?.sync_all()?;
        std::fs::rename(&temp, &path)?;
        Ok((parts, path))
    }
}

impl Write for PartsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.current.as_ref().is_some_and(|o| o.size >= self.max) {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.open_next()?;
        }
        let max = self.max;
        let Some(open) = self.current.as_mut() else {
            return Err(io::Error::other("no part open"));
        };
        let room = (max - open.size).min(buf.len() as u64) as usize;
        let n = open.writer.write(&buf[..room])?;
        open.hasher.update(&buf[..n]);
        open.size += n as u64;
        self.whole.update(&buf[..n]);
        self.total += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some(o) => o.writer.flush(),
            None => Ok(()),
        }
    }
}

/// A part to read: where it is, and what the parts file says about it (when there is one).
#[derive(Debug, Clone)]
pub struct PartSpec {
    /// Its path.
    pub path: PathBuf,
    /// Its number, from 1.
    pub number: usize,
    /// The listed size and sha256, from the parts file.
    pub listed: Option<(u64, String)>,
}

/// The parts of a split archive, found by [`open`].
#[derive(Debug, Clone)]
pub struct PartSet {
    /// The parts file, when the archive was found through one (or it sits next to the first part).
    pub parts_file: Option<PathBuf>,
    /// Every part, in order.
    pub parts: Vec<PartSpec>,
}

/// Why the parts of a split archive cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartsProblem {
    /// The parts file is not what it must be: `(its path, what is wrong)`.
    Malformed(PathBuf, String),
    /// A part is missing or has the wrong size: `(the part's path, what is wrong)`.
    Part(PathBuf, String),
}

/// Whether `bytes` look like a parts file (a JSON object naming [`PARTS_MEDIA_TYPE`]).
fn looks_like_parts_file(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && std::str::from_utf8(bytes).is_ok_and(|t| t.contains(PARTS_MEDIA_TYPE))
}

/// A part's name must be a plain file name: parts sit next to their parts file, never elsewhere.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !(name.len() >= 2 && name.as_bytes()[1] == b':')
}

fn read_parts_file(path: &Path) -> Result<Option<PartsFile>, PartsProblem> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(None),
    };
    if !meta.is_file() || meta.len() > MAX_PARTS_FILE {
        return Ok(None);
    }
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    if !looks_like_parts_file(&bytes) {
        return Ok(None);
    }
    let malformed = |m: String| PartsProblem::Malformed(path.to_path_buf(), m);
    let file: PartsFile =
        serde_json::from_slice(&bytes).map_err(|e| malformed(format!("not a parts file: {e}")))?;
    if file.media_type != PARTS_MEDIA_TYPE {
        return Err(malformed(format!(
            "mediaType is {:?}, not {PARTS_MEDIA_TYPE:?}",
            file.media_type
        )));
    }
    if file.parts.is_empty() {
        return Err(malformed("lists no parts".to_string()));
    }
    for (i, p) in file.parts.iter().enumerate() {
        if !plain_file_name(&p.name) {
            return Err(malformed(format!(
                "part {} is named {:?}: a part must be a file next to the parts file",
                i + 1,
                p.name
            )));
        }
        if Digest::from_sha256_hex(&p.sha256).is_err() {
            return Err(malformed(format!(
                "part {} ({}): sha256 is not 64 lower-case hex digits",
                i + 1,
                p.name
            )));
        }
    }
    if file.parts.iter().map(|p| p.size).sum::<u64>() != file.size {
        return Err(malformed(
            "the parts' sizes do not add up to the archive's size".to_string(),
        ));
    }
    Ok(Some(file))
}

/// The number at the end of a part's name (`NAME.001` → `("NAME", 1)`), when it has one.
fn numbered(path: &Path) -> Option<(String, usize)> {
    let name = path.file_name()?.to_str()?;
    let (base, digits) = name.rsplit_once('.')?;
    if digits.len() < 3 || !digits.bytes().all(|b| b.is_ascii_digit()) || base.is_empty() {
        return None;
    }
    Some((base.to_string(), digits.parse().ok()?))
}

/// Finds the parts of the split archive at `path`: `path` is its parts file, or its first part
/// (`NAME.001`; the parts file `NAME.parts` next to it is read when present, otherwise `NAME.002`,
/// `NAME.003`, … are taken while they exist). `Ok(None)` when `path` is neither. Every listed part
/// must exist with its listed size; its content is checked while it is read ([`PartsReader`]).
pub fn open(path: &Path) -> Result<Option<PartSet>, PartsProblem> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let (parts_file, listed) = match read_parts_file(path)? {
        Some(f) => (path.to_path_buf(), f),
        None => {
            let Some((base, 1)) = numbered(path) else {
                return Ok(None);
            };
            let candidate = dir.join(format!("{base}{PARTS_SUFFIX}"));
            match read_parts_file(&candidate)? {
                Some(f) => (candidate, f),
                None => {
                    // No parts file: the consecutive parts that exist, unchecked.
                    let mut parts = Vec::new();
                    loop {
                        let p = dir.join(part_name(&base, parts.len() + 1));
                        if !p.is_file() {
                            break;
                        }
                        parts.push(PartSpec {
                            path: p,
                            number: parts.len() + 1,
                            listed: None,
                        });
                    }
                    return Ok(Some(PartSet {
                        parts_file: None,
                        parts,
                    }));
                }
            }
        }
    };
    let count = listed.parts.len();
    let mut parts = Vec::with_capacity(count);
    for (i, p) in listed.parts.iter().enumerate() {
        let part_path = dir.join(&p.name);
        let of = format!("part {} of {count}", i + 1);
        match std::fs::metadata(&part_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PartsProblem::Part(
                    part_path,
                    format!(
                        "{of} is missing ({} lists it: {} bytes, sha256 {}); copy it next to the parts file",
                        parts_file.display(),
                        p.size,
                        p.sha256
                    ),
                ));
            }
            Err(e) => return Err(PartsProblem::Part(part_path, format!("{of}: {e}"))),
            Ok(m) if !m.is_file() => {
                return Err(PartsProblem::Part(part_path, format!("{of} is not a file")));
            }
            Ok(m) if m.len() != p.size => {
                return Err(PartsProblem::Part(
                    part_path,
                    format!(
                        "{of} is {} bytes, {} says {} (truncated or corrupt: copy it again)",
                        m.len(),
                        parts_file.display(),
                        p.size
                    ),
                ));
            }
            Ok(_) => {}
        }
        parts.push(PartSpec {
            path: part_path,
            number: i + 1,
            listed: Some((p.size, p.sha256.clone())),
        });
    }
    Ok(Some(PartSet {
        parts_file: Some(parts_file),
        parts,
    }))
}

/// A part whose content does not match the parts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPart {
    /// The part's file name.
    pub part: String,
    /// What is wrong.
    pub message: String,
}

struct ReaderState {
    set: PartSet,
    /// Index into `set.parts` of the part being read.
    index: usize,
    file: Option<File>,
    hasher: Sha256Hasher,
    read: u64,
    bad: Vec<BadPart>,
}

impl ReaderState {
    /// Ends the current part: checks it against the parts file and moves to the next.
    fn end_part(&mut self) {
        let spec = &self.set.parts[self.index];
        let hasher = std::mem::replace(&mut self.hasher, Sha256Hasher::new());
        if let Some((size, sha)) = &spec.listed {
            let got = hasher.finish();
            let name = spec
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let of = format!("part {} of {}", spec.number, self.set.parts.len());
            let listed_in = self
                .set
                .parts_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if self.read != *size {
                self.bad.push(BadPart {
                    part: name,
                    message: format!(
                        "{of}: {} bytes read, {listed_in} says {size} (copy the part again)",
                        self.read
                    ),
                });
            } else if got.hex() != sha {
                self.bad.push(BadPart {
                    part: name,
                    message: format!(
                        "{of} is corrupt: its sha256 is {}, {listed_in} says {sha} (copy the part again)",
                        got.hex()
                    ),
                });
            }
        }
        self.file = None;
        self.read = 0;
        self.index += 1;
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.index >= self.set.parts.len() || buf.is_empty() {
                return Ok(0);
            }
            if self.file.is_none() {
                let path = &self.set.parts[self.index].path;
                self.file =
                    Some(File::open(path).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?);
            }
            let Some(file) = self.file.as_mut() else {
                return Ok(0);
            };
            let n = file.read(buf)?;
            if n == 0 {
                self.end_part();
                continue;
            }
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
            return Ok(n);
        }
    }
}

/// Reads the parts of a [`PartSet`] as one stream, hashing each part on the way; a part that does not
/// match its listed size or sha256 is noted (see [`PartsCheck::finish`]) and reading goes on.
pub struct PartsReader {
    state: Rc<RefCell<ReaderState>>,
}

/// The other end of a [`PartsReader`]: after the stream was read, [`PartsCheck::finish`] reads what
/// the reader of the archive left (the archive's end) and returns every part that did not match.
pub struct PartsCheck {
    state: Rc<RefCell<ReaderState>>,
}

impl Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state.borrow_mut().read(buf)
    }
}

impl PartsCheck {
    /// Reads the rest of every part (hashing only) and returns the parts that do not match.
    pub fn finish(self) -> Vec<BadPart> {
        let mut state = self.state.borrow_mut();
        let mut buf = vec![0u8; 64 * 1024];
        while state.index < state.set.parts.len() {
            match state.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let spec = &state.set.parts[state.index];
                    let part = spec
                        .path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    let message = format!(
                        "part {} of {} could not be read: {e}",
                        spec.number,
                        state.set.parts.len()
                    );
                    state.bad.push(BadPart { part, message });
                    state.file = None;
                    state.read = 0;
                    state.hasher = Sha256Hasher::new();
                    state.index += 1;
                }
            }
        }
        std::mem::take(&mut state.bad)
    }
}

impl PartSet {
    /// A reader of the parts as one stream, and its check.
    pub fn reader(self) -> (PartsReader, PartsCheck) {
        let state = Rc::new(RefCell::new(ReaderState {
            set: self,
            index: 0,
            file: None,
            hasher: Sha256Hasher::new(),
            read: 0,
            bad: Vec::new(),
        }));
        (
            PartsReader {
                state: state.clone(),
            },
            PartsCheck { state },
        )
    }

    /// The first bytes of the stream (to tell `.tar` from `.tar.zst`).
    pub fn first_bytes(&self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        for p in &self.parts {
            if out.len() >= n {
                break;
            }
            let mut f = File::open(&p.path)?;
            (&mut f)
                .take((n - out.len()) as u64)
                .read_to_end(&mut out)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("700 MB").unwrap(), 700_000_000);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("2mib").unwrap(), 2 << 20);
        assert!(parse_size("GiB").is_err());
        assert!(
            parse_size("4 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000TiB").is_err());
    }

    fn split(dir: &Path, data: &[u8], max: u64, chunk: usize) -> (PartsFile, PathBuf) {
        let mut w = PartsWriter::create(&dir.join("a.tar"), max).unwrap();
        for c in data.chunks(chunk) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(path: &Path) -> (Vec<u8>, Vec<BadPart>) {
        let set = open(path).unwrap().unwrap();
        let (mut r, check) = set.reader();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (out, check.finish())
    }

    #[test]
    fn round_trip_cut_at_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (file, path) = split(dir.path(), &data, 4096, 1000);
        let sizes: Vec<u64> = file.parts.iter().map(|p| p.size).collect();
        assert_eq!(sizes, [4096, 4096, 1808]);
        assert_eq!(file.parts[2].name, "a.tar.003");
        assert_eq!(file.size, 10_000);
        assert_eq!(
            file.sha256,
            crate::types::Digest::sha256_of(&data).hex().to_string()
        );
        let (back, bad) = read_all(&path);
        assert_eq!(back, data);
        assert!(bad.is_empty());
        // the first part finds its parts file
        let (back, bad) = read_all(&dir.path().join("a.tar.001"));
        assert_eq!(back, data);
        assert!(bad.is_empty());
        // a shorter second run removes the third part of the first
        let (file, _) = split(dir.path(), &data[..5000], 4096, 333);
        assert_eq!(file.parts.len(), 2);
        assert!(!dir.path().join("a.tar.003").exists());
        // without the parts file, the consecutive parts
        std::fs::remove_file(dir.path().join("a.tar.parts")).unwrap();
        let (back, bad) = read_all(&dir.path().join("a.tar.001"));
        assert_eq!(back, &data[..5000]);
        assert!(bad.is_empty());
        assert!(open(&dir.path().join("a.tar.002")).unwrap().is_none());
    }

    #[test]
    fn a_corrupt_or_missing_part_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![7u8; 9000];
        let (_, path) = split(dir.path(), &data, 4000, 4000);
        let p2 = dir.path().join("a.tar.002");
        let mut bytes = std::fs::read(&p2).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&p2, &bytes).unwrap();
        let (_, bad) = read_all(&path);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].part, "a.tar.002");
        assert!(bad[0].message.contains("part 2 of 3 is corrupt"), "{bad:?}");
        // only part of the stream read: the check reads the rest
        let set = open(&path).unwrap().unwrap();
        let (mut r, check) = set.reader();
        let mut head = [0u8; 100];
        r.read_exact(&mut head).unwrap();
        drop(r);
        assert_eq!(check.finish().len(), 1);
        std::fs::write(&p2, &bytes[..100]).unwrap();
        match open(&path) {
            Err(PartsProblem::Part(p, m)) => {
                assert_eq!(p, p2);
                assert!(m.contains("part 2 of 3 is 100 bytes"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(&p2).unwrap();
        match open(&path) {
            Err(PartsProblem::Part(p, m)) => {
                assert_eq!(p, p2);
                assert!(m.contains("part 2 of 3 is missing"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parts_never_point_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let evil = PartsFile {
            media_type: PARTS_MEDIA_TYPE.to_string(),
            archive: "a.tar".to_string(),
            size: 1,
            sha256: "0".repeat(64),
            parts: vec![Part {
                name: "../x".to_string(),
                size: 1,
                sha256: "0".repeat(64),
            }],
        };
        let p = dir.path().join("a.tar.parts");
        std::fs::write(&p, serde_json::to_vec(&evil).unwrap()).unwrap();
        assert!(
            matches!(open(&p), Err(PartsProblem::Malformed(_, m)) if m.contains("next to the parts file"))
        );
    }
}
