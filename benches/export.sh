#!/usr/bin/env bash
# benches/export.sh — `bundle export --airgap` against a local registry, compared in the same run with
#   (a) skopeo copy --all, one image after another, into one OCI layout (skopeo's own way of doing it), and
#   (b) every blob fetched with curl, RUNS-parallel-wide (-P JOBS): the wire limit on this machine.
# Also reports bundle's peak RSS (/usr/bin/time -v).
#
#   benches/export.sh [N_IMAGES=20] [MIB_TOTAL=1024] [RUNS=3]
# Env: BENCH_DIR (default /tmp/bundle-export-bench), PORT (5181), JOBS (8), KEEP=1 keeps the registry running,
#      BIG_MB (300): one more image holds one layer of this many MB (10^6 bytes), part of MIB_TOTAL (0: none),
#      BEFORE=/path/to/an/older/bundle times that binary too, in the same runs (before/after comparisons).
# Needs: docker-registry, skopeo, curl, python3, /usr/bin/time, and a release build (cargo build --release).
# The images are generated here (python3, no external tools): 4 of N are multi-arch (amd64+arm64) indexes,
# every image shares one base layer (15 % of the bytes), one more image carries a single BIG_MB layer, the
# rest are unique gzip layers (stored deflate, so generation is fast and the bytes on the wire are what the
# benchmark says).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-20}; MIB=${2:-1024}; RUNS=${3:-3}
B=${BENCH_DIR:-/tmp/bundle-export-bench}
PORT=${PORT:-5181}; JOBS=${JOBS:-8}
HOST=127.0.0.1:$PORT
BUNDLE=$HERE/target/release/bundle
for t in docker-registry skopeo curl python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 2; }
done
[[ -x $BUNDLE ]] || { echo "build first: cargo build --release" >&2; exit 2; }
rm -rf "$B"; mkdir -p "$B/storage"

# --- registry ------------------------------------------------------------------------------------
cat > "$B/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $B/storage}}
http: {addr: $HOST, secret: bench}
CFG
env -u REGISTRY_HTTP_ADDR docker-registry serve "$B/config.yml" >"$B/registry.log" 2>&1 &
REG=$!
cleanup() { [[ ${KEEP:-0} == 1 ]] || kill "$REG" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done

# --- images: an OCI layout, pushed with skopeo ----------------------------------------------------
python3 - "$B/src" "$N" "$MIB" "${BIG_MB:-300}" > "$B/refs.txt" <<'PY'
import gzip, hashlib, json, os, sys
out, n, mib, big_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
blobs = os.path.join(out, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f: f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
def layer(size, seed):
    raw = os.urandom(size)  # incompressible, like real layers (a 300 MB one is generated in memory, once)
    h = bytearray(b"".join([f"{seed}.bin".encode().ljust(100, b"\0"), b"0000644\0", b"0000000\0" * 2,
                            f"{size:011o}\0".encode(), b"00000000000\0", b"        0"]).ljust(512, b"\0"))
    h[148:156] = f"{sum(h):06o}\0 ".encode(); tar = bytes(h)
    gz = gzip.compress(tar + raw + b"\0" * ((-size) % 512) + b"\0" * 1024, compresslevel=0, mtime=0)
    return gz, "sha256:" + hashlib.sha256(tar + raw).hexdigest()
multi = min(4, n); units = (n - multi) + 2 * multi          # platform manifests
total = mib * 1024 * 1024; base_size = int(total * 0.15); big = big_mb * 1000 * 1000
assert total - base_size - big > units * 2 * 4096, "MIB_TOTAL too small for BIG_MB"
per = (total - base_size - big) // units // 2                # two unique layers per platform manifest
base, base_diff = layer(base_size, "base"); base_d = put(base)
def image(arch, i, sizes=(per, per)):
    ls, diffs = [dict(base_d, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")], [base_diff]
    for k, size in enumerate(sizes):
        gz, diff = layer(size, f"{i}-{arch}-{k}"); ls.append(dict(put(gz), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")); diffs.append(diff)
    cfg = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}, "config": {}}).encode()
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": dict(put(cfg), mediaType="application/vnd.oci.image.config.v1+json"), "layers": ls}).encode()
    return dict(put(m), mediaType="application/vnd.oci.image.manifest.v1+json")
entries = []
for i in range(n):
    ref = f"registry.example.test/bench/img{i:02d}:v1"
    if i < multi:
        kids = [dict(image(a, i), platform={"architecture": a, "os": "linux"}) for a in ("amd64", "arm64")]
        idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": kids}).encode()
        d = dict(put(idx), mediaType="application/vnd.oci.image.index.v1+json")
    else:
        d = image("amd64", i)
    d["annotations"] = {"org.opencontainers.image.ref.name": ref}; entries.append(d); print(ref)
if big:
    ref = "registry.example.test/bench/big:v1"
    d = image("amd64", "big", (big,))
    d["annotations"] = {"org.opencontainers.image.ref.name": ref}; entries.append(d); print(ref)
json.dump({"schemaVersion": 2, "manifests": entries}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
BYTES=$(du -sb "$B/src/blobs" | cut -f1)
echo "generated $N images, $((BYTES / 1048576)) MiB of blobs"
while read -r ref; do
  skopeo copy -q --all --dest-tls-verify=false "oci:$B/src:$ref" "docker://$HOST/${ref#registry.example.test/}" >/dev/null
done < "$B/refs.txt"

# --- a catalog naming those images, and its lock ---------------------------------------------------
C=$B/catalog; mkdir -p "$C/components" "$C/profiles"
printf 'apiVersion: bundle/v1\nkind: Catalog\ncapabilities:\n  - name: workload\n    description: bench\n' > "$C/catalog.yaml"
printf 'apiVersion: bundle/v1\nkind: Platform\nkubernetes: "*"\nwith: [workload]\nwithout: []\n' > "$C/profiles/default.yaml"
{ printf 'apiVersion: bundle/v1\nkind: Component\nname: kubernetes\ndescription: bench\nhomepage: https://example.test\nprovides: []\nversions:\n  - version: 1.30.0\n    images:\n'
  head -1 "$B/refs.txt" | sed 's/^/      - reference: /'; } > "$C/components/kubernetes.yaml"
{ printf 'apiVersion: bundle/v1\nkind: Component\nname: app\ndescription: bench\nhomepage: https://example.test\nprovides: [workload]\nversions:\n  - version: 1.0.0\n    requires:\n      - name: kubernetes\n        range: ">=1.30.0"\n        source: https://example.test\n    images:\n'
  tail -n +2 "$B/refs.txt" | sed 's/^/      - reference: /'; } > "$C/components/app.yaml"
REG_ARGS=(--registry-mirror "registry.example.test=$HOST" --insecure-registry "$HOST")
(cd "$B" && "$BUNDLE" --catalog "$C" solve >/dev/null 2>&1)
(cd "$B" && "$BUNDLE" --catalog "$C" pin -q "${REG_ARGS[@]}" >/dev/null 2>&1)

# --- the blob list for curl: every blob, deduplicated, with a repository that has it -----------------
python3 - "$B/src" "$HOST" > "$B/urls.txt" <<'PY'
import json, os, sys
src, host = sys.argv[1], sys.argv[2]
blob = lambda d: json.load(open(os.path.join(src, "blobs", "sha256", d[7:])))
seen = {}
for e in json.load(open(os.path.join(src, "index.json")))["manifests"]:
    repo = e["annotations"]["org.opencontainers.image.ref.name"].split("/", 1)[1].rsplit(":", 1)[0]
    ms = [c["digest"] for c in blob(e["digest"])["manifests"]] if "index" in e["mediaType"] else [e["digest"]]
    for m in ms:
        man = blob(m)
        for d in [man["config"]] + man["layers"]:
            seen.setdefault(d["digest"], f"http://{host}/v2/{repo}/blobs/{d['digest']}")
print("\n".join(seen.values()))
PY

secs() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
: > "$B/bundle.s"; : > "$B/skopeo.s"; : > "$B/curl.s"; : > "$B/rss.kb"; : > "$B/before.s"; : > "$B/before.kb"
BEFORE=${BEFORE:-}
for r in $(seq "$RUNS"); do
  if [[ -n $BEFORE ]]; then
    rm -rf "$B/out-before"; sync
    /usr/bin/time -v -o "$B/t.before" "$BEFORE" --catalog "$C" export --airgap --lock "$B/bundle.lock" \
      -o "$B/out-before" -q --jobs "$JOBS" "${REG_ARGS[@]}" 2>"$B/before.err" || { cat "$B/before.err"; exit 1; }
    secs "$B/t.before" >> "$B/before.s"; awk -F': ' '/Maximum resident/{print $2}' "$B/t.before" >> "$B/before.kb"
    rm -rf "$B/out-before"
  fi

  rm -rf "$B/out-bundle"; sync
  /usr/bin/time -v -o "$B/t.bundle" "$BUNDLE" --catalog "$C" export --airgap --lock "$B/bundle.lock" \
    -o "$B/out-bundle" -q --jobs "$JOBS" "${REG_ARGS[@]}" 2>"$B/bundle.err" || { cat "$B/bundle.err"; exit 1; }
  secs "$B/t.bundle" >> "$B/bundle.s"; awk -F': ' '/Maximum resident/{print $2}' "$B/t.bundle" >> "$B/rss.kb"

  rm -rf "$B/out-skopeo"; sync
  /usr/bin/time -v -o "$B/t.skopeo" bash -c 'while read -r ref; do
      skopeo copy -q --all --src-tls-verify=false "docker://'"$HOST"'/${ref#registry.example.test/}" "oci:'"$B"'/out-skopeo:$ref" >/dev/null
    done < "'"$B"'/refs.txt"'
  secs "$B/t.skopeo" >> "$B/skopeo.s"

  rm -rf "$B/out-curl"; mkdir -p "$B/out-curl"; sync
  /usr/bin/time -v -o "$B/t.curl" bash -c 'cd "'"$B"'/out-curl" && xargs -P '"$JOBS"' -n 1 curl -sf -O < "'"$B"'/urls.txt"'
  secs "$B/t.curl" >> "$B/curl.s"
  echo "run $r: bundle $(tail -1 "$B/bundle.s") s, skopeo $(tail -1 "$B/skopeo.s") s, curl $(tail -1 "$B/curl.s") s${BEFORE:+, before $(tail -1 "$B/before.s") s}"
done
TB=$(median < "$B/bundle.s"); TS=$(median < "$B/skopeo.s"); TC=$(median < "$B/curl.s"); RSS=$(median < "$B/rss.kb")
BL=$(du -sb "$B/out-bundle/blobs" | cut -f1)
echo
echo "data: $N images, $((BL / 1048576)) MiB in the bundle, $(wc -l < "$B/urls.txt") distinct blobs; medians of $RUNS, --jobs $JOBS"
awk -v b="$TB" -v s="$TS" -v c="$TC" -v bytes="$BL" -v rss="$RSS" 'BEGIN{
  printf "bundle export   %6.2f s  %6.0f MB/s\n", b, bytes/1e6/b
  printf "skopeo --all    %6.2f s  %6.0f MB/s   bundle is %.2fx faster            (target >= 3x: %s)\n", s, bytes/1e6/s, s/b, (s/b >= 3 ? "met" : "MISSED")
  printf "curl -P (wire)  %6.2f s  %6.0f MB/s   bundle runs at %.0f %% of the wire  (target >= 90 %%: %s)\n", c, bytes/1e6/c, 100*c/b, (c/b >= 0.9 ? "met" : "MISSED")
  printf "bundle peak RSS %6.1f MiB                                        (target < 64 MiB: %s)\n", rss/1024, (rss < 65536 ? "met" : "MISSED") }'
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(date -u +%FT%TZ)"
if [[ -n $BEFORE ]]; then
  TBB=$(median < "$B/before.s"); RSSB=$(median < "$B/before.kb")
  awk -v b="$TBB" -v a="$TB" -v s="$TS" -v c="$TC" -v bytes="$BL" -v rss="$RSSB" 'BEGIN{
    printf "BEFORE export   %6.2f s  %6.0f MB/s   %.2fx faster than skopeo, %.2fx the wire time; now %.2fx faster\n", b, bytes/1e6/b, s/b, b/c, b/a
    printf "BEFORE peak RSS %6.1f MiB\n", rss/1024 }'
fi
