//! Synthetic images built in code: real tar+gzip layers, configs with diff_ids, exact sizes and
//! digests, in the four kinds a registry serves (OCI image, OCI index, Docker schema2, Docker list).

use sha2::Digest as _;

/// The images of `tests/fixtures/registry-catalog` (under [`SOURCE`]) and the kind of image each one
/// is: the pin, export and mirror tests push these and solve that catalog.
pub const IMAGES: [(&str, Kind); 5] = [
    ("kube/apiserver:v1.30.0", Kind::OciImage),
    ("team/app:v1", Kind::OciImage),
    ("team/multi:v2", Kind::OciIndex),
    ("legacy/tool:1.0", Kind::DockerImage),
    ("legacy/multi:1.0", Kind::DockerList),
];

/// The source registry the fixture catalog's image references name.
pub const SOURCE: &str = "registry.example.test";

/// The four kinds of image a registry serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OCI image manifest.
    OciImage,
    /// OCI image index over two platforms.
    OciIndex,
    /// Docker schema2 manifest.
    DockerImage,
    /// Docker manifest list over two platforms.
    DockerList,
}

/// A synthetic image: manifest bytes exactly as pushed, its digest, and what it references.
#[derive(Debug, Clone)]
pub struct Image {
    /// Media type of the manifest.
    pub media_type: String,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` of `manifest`.
    pub digest: String,
    /// Blobs (config and layers) to push first.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// Platform manifests of an index.
    pub children: Vec<Image>,
}

/// `sha256:…` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let h = sha2::Sha256::digest(bytes);
    let mut s = String::from("sha256:");
    for b in h.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Random-looking bytes (sha256 in counter mode over a per-process, per-call seed).
fn random_bytes(n: usize) -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{nanos}-{}-{}",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::SeqCst)
    );
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(&sha2::Sha256::digest(format!("{seed}/{i}").as_bytes()));
        i += 1;
    }
    out.truncate(n);
    out
}

/// A one-file ustar archive.
fn tar_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mut field = |at: usize, s: &str| h[at..at + s.len()].copy_from_slice(s.as_bytes());
    field(100, "0000644\0");
    field(108, "0000000\0");
    field(116, "0000000\0");
    field(124, &format!("{:011o}\0", data.len()));
    field(136, &format!("{:011o}\0", 1_700_000_000u64));
    field(148, "        ");
    field(156, "0");
    field(257, "ustar\0");
    field(263, "00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid gzip member holding `data` in stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn to_json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("json")
}

fn single(docker: bool, arch: &str) -> Image {
    let (manifest_type, config_type, layer_type) = if docker {
        (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    } else {
        (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    };
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for n in 0..2 {
        let size = 1024 + (random_bytes(1)[0] as usize) * 8;
        let tar = tar_one_file(&format!("layer-{n}.bin"), &random_bytes(size));
        diff_ids.push(sha256(&tar));
        let gz = gzip_stored(&tar);
        let d = sha256(&gz);
        layers.push(serde_json::json!({"mediaType": layer_type, "digest": d, "size": gz.len()}));
        blobs.push((d, gz));
    }
    let config = to_json(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "2030-01-01T00:00:00Z",
        "config": {"Cmd": ["/layer-0.bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2030-01-01T00:00:00Z", "created_by": "bundle test"},
                    {"created": "2030-01-01T00:00:00Z", "created_by": "bundle test"}],
    }));
    let config_digest = sha256(&config);
    let manifest = to_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers,
    }));
    blobs.insert(0, (config_digest, config));
    Image {
        media_type: manifest_type.to_string(),
        digest: sha256(&manifest),
        manifest,
        blobs,
        children: Vec::new(),
    }
}

fn index(docker: bool) -> Image {
    let media_type = if docker {
        "application/vnd.docker.distribution.manifest.list.v2+json"
    } else {
        "application/vnd.oci.image.index.v1+json"
    };
    let children: Vec<Image> = ["amd64", "arm64"]
        .iter()
        .map(|a| single(docker, a))
        .collect();
    let entries: Vec<serde_json::Value> = children
        .iter()
        .zip(["amd64", "arm64"])
        .map(|(c, arch)| {
            serde_json::json!({
                "mediaType": c.media_type, "digest": c.digest, "size": c.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    let manifest = to_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": entries,
    }));
    Image {
        media_type: media_type.to_string(),
        digest: sha256(&manifest),
        manifest,
        blobs: Vec::new(),
        children,
    }
}

/// A patch release of a single-platform image: the same layers plus one new layer on top, and a new
/// config (its `diff_ids` extended); what a patch upgrade of one component looks like in a registry.
pub fn patched(base: &Image) -> Image {
    assert!(base.children.is_empty(), "patched: a single-platform image");
    let mut manifest: serde_json::Value = serde_json::from_slice(&base.manifest).expect("manifest");
    let (config_digest, config_bytes) = base.blobs[0].clone();
    assert_eq!(manifest["config"]["digest"], config_digest.as_str());
    let mut config: serde_json::Value = serde_json::from_slice(&config_bytes).expect("config");
    let tar = tar_one_file("patch.bin", &random_bytes(2048));
    let gz = gzip_stored(&tar);
    let layer_digest = sha256(&gz);
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .expect("diff_ids")
        .push(sha256(&tar).into());
    config["history"].as_array_mut().expect("history").push(
        serde_json::json!({"created": "2030-01-02T00:00:00Z", "created_by": "bundle test patch"}),
    );
    let config = to_json(&config);
    let layer_type = manifest["layers"][0]["mediaType"].clone();
    manifest["config"]["digest"] = sha256(&config).into();
    manifest["config"]["size"] = config.len().into();
    manifest["layers"].as_array_mut().expect("layers").push(
        serde_json::json!({"mediaType": layer_type, "digest": layer_digest, "size": gz.len()}),
    );
    let manifest = to_json(&manifest);
    let mut blobs = vec![(sha256(&config), config)];
    blobs.extend(base.blobs[1..].iter().cloned());
    blobs.push((layer_digest, gz));
    Image {
        media_type: base.media_type.clone(),
        digest: sha256(&manifest),
        manifest,
        blobs,
        children: Vec::new(),
    }
}

/// A new synthetic image of this kind (random layers: every call gives another digest).
pub fn image(kind: Kind) -> Image {
    match kind {
        Kind::OciImage => single(false, "amd64"),
        Kind::DockerImage => single(true, "amd64"),
        Kind::OciIndex => index(false),
        Kind::DockerList => index(true),
    }
}

#[test]
fn synthetic_layers_are_valid_gzip_tar() {
    // gzip's own CRC check: the trailer must match a known value for a known input.
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    let tar = tar_one_file("a", b"hello");
    assert_eq!(tar.len(), 512 * 4);
    let gz = gzip_stored(&tar);
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
    let i = image(Kind::OciIndex);
    assert_eq!(i.children.len(), 2);
    assert_eq!(i.digest, sha256(&i.manifest));
}
