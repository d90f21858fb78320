//! Bad input of the kinds `messages.rs` does not already try, so that every kind of input `bundle`
//! parses (catalog file, lock, request, index, manifest) meets every way a path can be wrong (a
//! FIFO, a device, a directory, a file over its limit): each is refused at once, with exit 2 or 1 by
//! the contract and a message naming the file (snapshots); nothing hangs on a FIFO or reads a device
//! without end. The whole matrix, with the tests of the other cells, is in docs/reliability.md.

use std::path::Path;

use crate::messages::snap;
use crate::support::{Variant, World, bundle_env, sha256, tempdir};

fn fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

/// An OCI layout directory `name` in `dir` whose `index.json` is made by `index` (a FIFO, a link to
/// a device, a directory…).
fn layout(dir: &Path, name: &str, index: impl FnOnce(&Path)) -> String {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    index(&root.join("index.json"));
    name.to_string()
}

/// An OCI layout directory `name` in `dir` whose one manifest blob is made by `blob`.
fn layout_with_manifest(dir: &Path, name: &str, blob: impl FnOnce(&Path)) -> String {
    let digest = sha256(b"a manifest that is not there");
    layout(dir, name, |index| {
        let entry = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": 512,
                "annotations": {"org.opencontainers.image.ref.name": "registry.example.test/team/app:v1"},
            }],
        });
        std::fs::write(index, serde_json::to_vec(&entry).unwrap()).unwrap();
    });
    blob(
        &dir.join(name)
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    );
    name.to_string()
}

/// Makes a bad entry at a path.
type Maker = fn(&Path);

fn device(path: &Path) {
    std::os::unix::fs::symlink("/dev/zero", path).unwrap();
}

fn directory(path: &Path) {
    std::fs::create_dir(path).unwrap();
}

#[test]
fn every_input_kind_refuses_a_fifo_a_device_and_a_directory() {
    let dir = tempdir();
    let fixture = crate::support::world::catalog();
    let run = |name: &str, args: &[&str]| {
        let r = bundle_env(&dir, args, None, &[]);
        snap(name, &r);
        r
    };

    // Catalog files: a device and a directory where `catalog.yaml` should be (exit 2).
    for (kind, make) in [("device", device as Maker), ("directory", directory)] {
        let catalog = dir.join(format!("catalog-{kind}"));
        std::fs::create_dir_all(catalog.join("components")).unwrap();
        make(&catalog.join("catalog.yaml"));
        let arg = format!("catalog-{kind}");
        let r = run(
            &format!("bad_input_catalog_{kind}"),
            &["--catalog", &arg, "solve"],
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
    }

    // A lock that is a device (exit 2); a request that is a directory (exit 2).
    device(&dir.join("zero.lock"));
    let r = run("bad_input_lock_device", &["pin", "--lock", "zero.lock"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    directory(&dir.join("request.d"));
    let r = run(
        "bad_input_request_directory",
        &["--catalog", &fixture, "solve", "-f", "request.d"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);

    // A bundle's index and a manifest in it as a FIFO, a device, a directory: `verify`, `mirror` and
    // `inspect` call the bundle corrupt (exit 1) without reading them, nothing is pushed.
    let makers: [(&str, Maker); 3] = [("fifo", fifo), ("device", device), ("directory", directory)];
    for (kind, make) in makers {
        let index = layout(&dir, &format!("index-{kind}"), make);
        let r = run(
            &format!("bad_input_index_{kind}_verify"),
            &["verify", &index],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        let r = run(
            &format!("bad_input_index_{kind}_mirror"),
            &["mirror", &index, "--to", "127.0.0.1:9/x"],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        let r = run(
            &format!("bad_input_index_{kind}_inspect"),
            &["inspect", &index],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        let manifest = layout_with_manifest(&dir, &format!("manifest-{kind}"), make);
        let r = run(
            &format!("bad_input_manifest_{kind}_verify"),
            &["verify", &manifest],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        let r = run(
            &format!("bad_input_manifest_{kind}_mirror"),
            &["mirror", &manifest, "--to", "127.0.0.1:9/x"],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        // `inspect` refuses it too, naming the blob (it exited 0, listing the image with 0 B).
        let r = run(
            &format!("bad_input_manifest_{kind}_inspect"),
            &["inspect", &manifest],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("blobs/sha256/"), "{}", r.stderr);
    }
}

/// The lock a bundle carries is read under the lock limit (`BUNDLE_MAX_LOCK_SIZE`, as `--lock` is),
/// not a fixed one: over it, `render --bundle` stops (exit 2) and `inspect` says the lock is
/// unreadable, both naming the limit and the variable that raises it; under it, both read it.
#[test]
fn a_bundles_lock_is_read_under_the_lock_limit_that_can_be_raised() {
    let Some(w) = World::new(Variant::Plain, "faults_input_bundle_lock", "", &[]) else {
        return;
    };
    let r = w.run("pin", &["-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = w.run("export", &["--airgap", "-o", "b.tar", "-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock_size = w.lock_text().len();
    assert!(lock_size > 1024, "the lock is {lock_size} bytes");
    let render = ["render", "--bundle", "b.tar", "--check"];
    let small = [("BUNDLE_MAX_LOCK_SIZE", "1KiB")];
    let r = bundle_env(&w.dir, &render, None, &small);
    snap("bad_input_bundle_lock_over_its_limit_render", &r);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = bundle_env(&w.dir, &["inspect", "b.tar"], None, &small);
    snap("bad_input_bundle_lock_over_its_limit_inspect", &r);
    let raised = [("BUNDLE_MAX_LOCK_SIZE", "64MiB")];
    let r = bundle_env(&w.dir, &["inspect", "b.tar"], None, &raised);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("kubernetes: 1.30.0") && !r.stdout.contains("unreadable"),
        "{}",
        r.stdout
    );
    let r = bundle_env(&w.dir, &render, None, &raised);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
