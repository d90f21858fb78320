#!/usr/bin/env bash
# benches/delta.sh — a delta bundle for a patch upgrade of one component (`bundle export --airgap --since OLD`)
# against a local registry: what it carries compared with the whole new bundle, and that it is exactly the
# patched component's new blobs.
#
#   benches/delta.sh [N_COMPONENTS=10] [MIB_TOTAL=256]
# Env: BENCH_DIR (default /tmp/bundle-delta-bench), PORT (5183).
# Needs: docker-registry, skopeo, curl, python3, and a release build (cargo build --release).
#
# N components, one image each (every image shares one base layer, 15 % of the bytes; the rest are two
# unique layers per image); the old platform has `patchme` 1.0.0, the new one `patchme` 1.0.1, whose image
# is 1.0.0's layers plus one new layer (1 % of the bytes) and a new config: a typical patch release.
# Prints the bytes of the old bundle, of the whole new bundle and of the delta, and the config and layer
# blobs the delta carries next to the patch's new blobs (they must be the same set).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-10}; MIB=${2:-256}
B=${BENCH_DIR:-/tmp/bundle-delta-bench}
PORT=${PORT:-5183}
HOST=127.0.0.1:$PORT
BUNDLE=${BUNDLE_BIN:-$HERE/target/release/bundle}
for t in docker-registry skopeo curl python3; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 2; }
done
[[ -x $BUNDLE ]] || { echo "build first: cargo build --release" >&2; exit 2; }
rm -rf "$B"; mkdir -p "$B/storage"

cat > "$B/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $B/storage}}
http: {addr: $HOST, secret: bench}
CFG
env -u REGISTRY_HTTP_ADDR docker-registry serve "$B/config.yml" >"$B/registry.log" 2>&1 &
REG=$!
trap 'kill "$REG" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done

# --- images: an OCI layout (python3), pushed with skopeo; the patch's new blobs listed ---------------
python3 - "$B/src" "$N" "$MIB" "$B/patch-blobs.txt" > "$B/refs.txt" <<'PY'
import gzip, hashlib, json, os, sys
out, n, mib, patch_list = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
blobs = os.path.join(out, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f: f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
def layer(size, seed):
    raw = os.urandom(size)
    h = bytearray(b"".join([f"{seed}.bin".encode().ljust(100, b"\0"), b"0000644\0", b"0000000\0" * 2,
                            f"{size:011o}\0".encode(), b"00000000000\0", b"        0"]).ljust(512, b"\0"))
    h[148:156] = f"{sum(h):06o}\0 ".encode(); tar = bytes(h)
    gz = gzip.compress(tar + raw + b"\0" * ((-size) % 512) + b"\0" * 1024, compresslevel=0, mtime=0)
    return gz, "sha256:" + hashlib.sha256(tar + raw).hexdigest()
LT = "application/vnd.oci.image.layer.v1.tar+gzip"
total = mib * 1024 * 1024; base_size = int(total * 0.15); per = (total - base_size) // n // 2
base, base_diff = layer(base_size, "base"); base_d = put(base)
def manifest(layers, diffs, tag):
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs},
                      "config": {"Labels": {"version": tag}}}).encode()
    c = put(cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": dict(c, mediaType="application/vnd.oci.image.config.v1+json"), "layers": layers}).encode()
    return dict(put(m), mediaType="application/vnd.oci.image.manifest.v1+json"), c
entries = []
def add(ref, d):
    d["annotations"] = {"org.opencontainers.image.ref.name": ref}; entries.append(d); print(ref)
for i in range(n):
    ls, diffs = [dict(base_d, mediaType=LT)], [base_diff]
    for k in range(2):
        gz, diff = layer(per, f"{i}-{k}"); ls.append(dict(put(gz), mediaType=LT)); diffs.append(diff)
    name = "patchme" if i == 0 else f"c{i:02d}"
    d, _ = manifest(ls, diffs, "v1.0.0"); add(f"registry.example.test/bench/{name}:v1.0.0", d)
    if i == 0:
        gz, diff = layer(total // 100, "patch"); new = put(gz)
        d, cfg = manifest(ls + [dict(new, mediaType=LT)], diffs + [diff], "v1.0.1")
        add("registry.example.test/bench/patchme:v1.0.1", d)
        open(patch_list, "w").write(f"{cfg['digest']} {cfg['size']}\n{new['digest']} {new['size']}\n")
json.dump({"schemaVersion": 2, "manifests": entries}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
while read -r ref; do
  skopeo copy -q --dest-tls-verify=false "oci:$B/src:$ref" "docker://$HOST/${ref#registry.example.test/}" >/dev/null
done < "$B/refs.txt"

# --- catalogs: old (patchme 1.0.0) and new (+ patchme 1.0.1) ----------------------------------------
catalog() { # DIR WITH_PATCH
  local C=$1; mkdir -p "$C/components" "$C/profiles"
  printf 'apiVersion: bundle/v1\nkind: Catalog\ncapabilities:\n  - name: workload\n    description: bench\n' > "$C/catalog.yaml"
  printf 'apiVersion: bundle/v1\nkind: Platform\nkubernetes: "*"\nwith: [workload%s]\nwithout: []\n' \
    "$(for i in $(seq 1 $((N - 1))); do printf ', c%02d' "$i"; done)" > "$C/profiles/default.yaml"
  printf 'apiVersion: bundle/v1\nkind: Component\nname: kubernetes\ndescription: bench\nhomepage: https://example.test\nprovides: []\nversions:\n  - version: 1.30.0\n    images: []\n' > "$C/components/kubernetes.yaml"
  comp() { # NAME VERSION… (image tag v<VERSION>)
    local name=$1; shift
    local provides="[]"; [[ $name == patchme ]] && provides="[workload]"
    printf 'apiVersion: bundle/v1\nkind: Component\nname: %s\ndescription: bench\nhomepage: https://example.test\nprovides: %s\nversions:\n' "$name" "$provides"
    for v in "$@"; do
      printf '  - version: %s\n    requires:\n      - name: kubernetes\n        range: ">=1.30.0"\n        source: https://example.test\n    images:\n      - reference: registry.example.test/bench/%s:v%s\n' "$v" "$name" "$v"
    done
  }
  if [[ $2 == 1 ]]; then comp patchme 1.0.0 1.0.1; else comp patchme 1.0.0; fi > "$C/components/patchme.yaml"
  for i in $(seq 1 $((N - 1))); do comp "$(printf 'c%02d' "$i")" 1.0.0 > "$C/components/$(printf 'c%02d' "$i").yaml"; done
}
catalog "$B/old-catalog" 0; catalog "$B/new-catalog" 1
REG_ARGS=(--registry-mirror "registry.example.test=$HOST" --insecure-registry "$HOST")
cd "$B"
"$BUNDLE" --catalog old-catalog solve -o old.lock >/dev/null
"$BUNDLE" --catalog new-catalog solve -o new.lock >/dev/null
grep -q 'patchme:v1.0.1' new.lock || { echo "the new lock does not have patchme 1.0.1" >&2; exit 1; }

t() { local s; s=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }
T_OLD=$(t "$BUNDLE" --catalog old-catalog export --airgap -q --lock old.lock -o old.tar "${REG_ARGS[@]}")
T_FULL=$(t "$BUNDLE" --catalog new-catalog export --airgap -q --lock new.lock -o full.tar "${REG_ARGS[@]}")
T_DELTA=$(t "$BUNDLE" --catalog new-catalog export --airgap -q --lock new.lock --since old.tar -o delta.tar "${REG_ARGS[@]}")
T_LOCK=$(t "$BUNDLE" --catalog new-catalog export --airgap -q --lock new.lock --since old.lock -o delta-by-lock.tar "${REG_ARGS[@]}")
"$BUNDLE" verify delta.tar --base old.tar >/dev/null 2>&1 || { echo "verify --base failed" >&2; exit 1; }

python3 - "$B" <<'PY'
import json, os, sys, tarfile
b = sys.argv[1]
def blobs(name):
    with tarfile.open(os.path.join(b, name)) as t:
        return {m.name.split("/")[-1]: m.size for m in t.getmembers() if m.name.startswith("blobs/sha256/") and m.isfile()}
def docs(name):
    """configs and layers of the images named by index.json (manifests, indexes and the platform artifact aside)"""
    with tarfile.open(os.path.join(b, name)) as t:
        read = lambda d: json.load(t.extractfile("blobs/sha256/" + d.split(":")[1]))
        index = json.load(t.extractfile("index.json"))
        out = set()
        for e in index["manifests"]:
            if e.get("artifactType"): continue
            m = read(e["digest"])
            for d in [m["config"]] + m["layers"]:
                out.add(d["digest"].split(":")[1])
        return out
old, full, delta, by_lock = blobs("old.tar"), blobs("full.tar"), blobs("delta.tar"), blobs("delta-by-lock.tar")
image_blobs = docs("full.tar")
carried = {d: s for d, s in delta.items() if d in image_blobs}
patch = {l.split()[0].split(":")[1]: int(l.split()[1]) for l in open(os.path.join(b, "patch-blobs.txt"))}
size = lambda n: os.path.getsize(os.path.join(b, n))
mib = lambda x: f"{x / 1048576:.1f} MiB"
print(f"old bundle            {mib(size('old.tar')):>12}  ({len(old)} blobs)")
print(f"new bundle, whole     {mib(size('full.tar')):>12}  ({len(full)} blobs)")
print(f"new bundle, delta     {mib(size('delta.tar')):>12}  ({len(delta)} blobs; {size('delta.tar') / size('full.tar'):.3f} of the whole)")
print(f"  configs and layers carried: {len(carried)}, {sum(carried.values())} bytes")
print(f"  the patch's new blobs:      {len(patch)}, {sum(patch.values())} bytes")
print(f"  the rest: manifests and indexes of every image, the platform artifact: {sum(delta.values()) - sum(carried.values())} bytes")
print(f"  --since old.lock carries the same blobs: {'yes' if by_lock == delta else 'NO'}")
ok = set(carried) == set(patch) and by_lock == delta
print("delta carries exactly the patched component's new blobs: " + ("yes" if ok else "NO"))
sys.exit(0 if ok else 1)
PY
echo "export seconds: old $T_OLD, new whole $T_FULL, delta --since old.tar $T_DELTA (reads and hashes the base), --since old.lock $T_LOCK"
