#!/usr/bin/env bash
# benches/mirror.sh — `bundle mirror` of a directory bundle into an empty local registry, compared in the
# same run with
#   (a) skopeo copy --all --preserve-digests oci:BUNDLE:REF docker://…, one image after another (the peer),
#   (b) every distinct blob uploaded with curl (POST for a location, one monolithic PUT ?digest=), JOBS at a
#       time: the registry's ingest limit on this machine,
#   (c) `bundle mirror` again into the registry it has just filled (a rerun: everything present),
#   (d) the same first mirror and re-mirror against a Harbor-like target: distribution with token auth
#       (benches/token-server.py, Harbor's /service/token shape, RS256 tokens) and TLS (a CA made here).
# Each of (bundle, bundle --jobs SMALL_JOBS, skopeo, curl, Harbor-like) gets a fresh, empty registry in every
# run. Also reports bundle's peak RSS (/usr/bin/time -v).
#
#   benches/mirror.sh [N_IMAGES=20] [MIB_TOTAL=1024] [RUNS=5]
# Env: BENCH_DIR (default /tmp/bundle-mirror-bench), PORT (5191: the source registry of the export;
#      PORT+1: the target; PORT+2, PORT+3: the Harbor-like target and its token service), JOBS (8: bundle --jobs and curl's width), SMALL_JOBS (2; 0 skips that row),
#      KEEP=1 keeps BENCH_DIR (the registries are stopped either way).
# Needs: what benches/export.sh needs (docker-registry, skopeo, curl, python3, /usr/bin/time, openssl, a release
# build). The image set and the bundle come from benches/export.sh itself (run once, RUNS=1, into
# BENCH_DIR/export): same generator, same catalog, one `bundle export --airgap` into a directory.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-20}; MIB=${2:-1024}; RUNS=${3:-5}
B=${BENCH_DIR:-/tmp/bundle-mirror-bench}
PORT=${PORT:-5191}; TPORT=$((PORT + 1)); JOBS=${JOBS:-8}; SMALL_JOBS=${SMALL_JOBS:-2}
HOST=127.0.0.1:$TPORT
PROJECT=platform
BUNDLE=$HERE/target/release/bundle
for t in docker-registry skopeo curl python3 /usr/bin/time openssl; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 2; }
done
[[ -x $BUNDLE ]] || { echo "build first: cargo build --release" >&2; exit 2; }
rm -rf "$B"; mkdir -p "$B"

REG=; TOK=
stop_registry() {
  if [[ -n $REG ]]; then kill "$REG" 2>/dev/null || true; wait "$REG" 2>/dev/null || true; REG=; fi
  rm -rf "$B/target"
}
cleanup() {
  stop_registry
  if [[ -n $TOK ]]; then kill "$TOK" 2>/dev/null || true; wait "$TOK" 2>/dev/null || true; fi
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$B"
}
trap cleanup EXIT

# A fresh, empty target registry on $HOST (the previous one stopped and its storage removed).
fresh_registry() {
  stop_registry; sync
  mkdir -p "$B/target/storage"
  cat > "$B/target/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $B/target/storage}}
http: {addr: $HOST, secret: bench}
CFG
  env -u REGISTRY_HTTP_ADDR docker-registry serve "$B/target/config.yml" >"$B/target/registry.log" 2>&1 &
  REG=$!
  for _ in $(seq 100); do curl -sf "http://$HOST/v2/" >/dev/null && return; sleep 0.1; done
  echo "the target registry did not start:" >&2; cat "$B/target/registry.log" >&2; exit 1
}

# --- the Harbor-like target: a CA and a server certificate for 127.0.0.1, a token signing key, the token service
HHOST=127.0.0.1:$((PORT + 2)); TOKPORT=$((PORT + 3)); H=$B/harbor; HUSER=bench; HPASS=bench-password
mkdir -p "$H"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$H/ca.key" -out "$H/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$H/server.key" -out "$H/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$H/san.ext"
openssl x509 -req -in "$H/server.csr" -CA "$H/ca.crt" -CAkey "$H/ca.key" -CAcreateserial -days 2 \
  -extfile "$H/san.ext" -out "$H/server.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-token -keyout "$H/token.key" \
  -out "$H/token.crt" 2>/dev/null
python3 "$HERE/benches/token-server.py" "$H" "$TOKPORT" "$HUSER" "$HPASS" 2>"$H/token.log" &
TOK=$!

# A fresh, empty Harbor-like registry on $HHOST: token auth through the token service, TLS.
fresh_harbor() {
  stop_registry; sync
  mkdir -p "$B/target/storage"
  cat > "$B/target/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $B/target/storage}}
http: {addr: $HHOST, secret: bench, tls: {certificate: $H/server.crt, key: $H/server.key}}
auth:
  token: {realm: "http://127.0.0.1:$TOKPORT/service/token", service: harbor-registry, issuer: bundle-bench,
          rootcertbundle: $H/token.crt}
CFG
  env -u REGISTRY_HTTP_ADDR docker-registry serve "$B/target/config.yml" >"$B/target/registry.log" 2>&1 &
  REG=$!
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --cacert "$H/ca.crt" "https://$HHOST/v2/") == 401 ]] && return
    sleep 0.1
  done
  echo "the Harbor-like registry did not start:" >&2; cat "$B/target/registry.log" >&2; exit 1
}

# --- the image set and the bundle: benches/export.sh, once -------------------------------------------
echo "making $N images / $MIB MiB and one directory bundle with benches/export.sh (RUNS=1) …"
BENCH_DIR=$B/export PORT=$PORT JOBS=$JOBS KEEP=0 BEFORE= "$HERE/benches/export.sh" "$N" "$MIB" 1 \
  | sed 's/^/  export.sh: /'
mv "$B/export/out-bundle" "$B/bundle"; mv "$B/export/refs.txt" "$B/refs.txt"
rm -rf "$B/export"                               # the source registry has stopped; free the disk
BUN=$B/bundle

# --- the blob list for curl: every distinct config and layer blob, with the repository bundle uses -------
python3 - "$BUN" "$PROJECT" > "$B/blobs.txt" <<'PY'
import json, os, sys
root, project = sys.argv[1], sys.argv[2]
path = lambda d: os.path.join(root, "blobs", "sha256", d[7:])
doc = lambda d: json.load(open(path(d)))
seen = {}
for e in json.load(open(os.path.join(root, "index.json")))["manifests"]:
    ref = e.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    if "/" not in ref:
        continue                                  # the platform artifact (bundle.platform): not mirrored
    repo = project + "/" + ref.rsplit(":", 1)[0]
    ms = [c["digest"] for c in doc(e["digest"])["manifests"]] if "index" in e["mediaType"] else [e["digest"]]
    for m in ms:
        man = doc(m)
        for d in [man["config"]] + man["layers"]:
            seen.setdefault(d["digest"], (path(d["digest"]), repo))
for d, (p, repo) in seen.items():
    print(d, p, repo)
PY
CURL_BYTES=$(awk '{print $2}' "$B/blobs.txt" | xargs du -cb | tail -1 | cut -f1)

cat > "$B/put.sh" <<'SH'
#!/usr/bin/env bash
# put.sh HOST DIGEST FILE REPO: a monolithic blob upload (POST, then one PUT with ?digest=).
set -euo pipefail
host=$1 d=$2 f=$3 repo=$4
loc=$(curl -sf -o /dev/null -D - -X POST -H 'Content-Length: 0' "http://$host/v2/$repo/blobs/uploads/" \
      | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
[[ $loc == http* ]] || loc=http://$host$loc
[[ $loc == *\?* ]] && sep='&' || sep='?'
curl -sf -o /dev/null -X PUT -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$f" "$loc${sep}digest=$d"
SH
chmod +x "$B/put.sh"

secs() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
kb() { awk -F': ' '/Maximum resident/{print $2}' "$1"; }
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
inner() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$1"; }
MIRROR=("$BUNDLE" mirror "$BUN" --to "$HOST/$PROJECT" --insecure-registry "$HOST" --format json)
MIRROR_H=("$BUNDLE" mirror "$BUN" --to "$HHOST/$PROJECT" --ca-file "$H/ca.crt" --username "$HUSER" \
  --password-stdin --format json)
for f in bundle bundle.in small small.kb skopeo curl remirror remirror.in rss.kb harbor harbor.re; do
  : > "$B/$f.s"
done

# bundle mirror with /usr/bin/time -v; appends wall time, the summary's own seconds and peak RSS.
timed_mirror() {  # NAME JOBS
  /usr/bin/time -v -o "$B/t.$1" "${MIRROR[@]}" --jobs "$2" >"$B/$1.json" 2>"$B/$1.err" \
    || { cat "$B/$1.err" "$B/t.$1" >&2; exit 1; }
}
# The same into the Harbor-like target (the password on standard input).
timed_mirror_h() {  # NAME
  /usr/bin/time -v -o "$B/t.$1" "${MIRROR_H[@]}" --jobs "$JOBS" >"$B/$1.json" 2>"$B/$1.err" <<<"$HPASS" \
    || { cat "$B/$1.err" "$B/t.$1" >&2; exit 1; }
}
# The first mirror pushed, the rerun pushed nothing.
check_rerun() {  # FIRST.json RERUN.json
  python3 - "$1" "$2" <<'PY' || { cat "$1" "$2" >&2; exit 1; }
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["blobs"]["skipped"] == 0 and a["manifests"]["skipped"] == 0, "first mirror found things present"
assert a["blobs"]["pushed"] > 0 and b["blobs"]["pushed"] == 0 and b["blobs"]["mounted"] == 0 \
   and b["manifests"]["pushed"] == 0 and b["tags"]["pushed"] == 0, "rerun pushed something"
PY
}

for r in $(seq "$RUNS"); do
  fresh_registry
  timed_mirror bundle "$JOBS"
  secs "$B/t.bundle" >> "$B/bundle.s"; inner "$B/bundle.json" >> "$B/bundle.in.s"; kb "$B/t.bundle" >> "$B/rss.kb.s"
  timed_mirror remirror "$JOBS"                  # into the registry just filled: everything present
  secs "$B/t.remirror" >> "$B/remirror.s"; inner "$B/remirror.json" >> "$B/remirror.in.s"
  check_rerun "$B/bundle.json" "$B/remirror.json"

  fresh_harbor
  timed_mirror_h harbor; secs "$B/t.harbor" >> "$B/harbor.s"
  timed_mirror_h harbor-re; secs "$B/t.harbor-re" >> "$B/harbor.re.s"
  check_rerun "$B/harbor.json" "$B/harbor-re.json"

  if (( SMALL_JOBS > 0 )); then
    fresh_registry
    timed_mirror small "$SMALL_JOBS"
    secs "$B/t.small" >> "$B/small.s"; kb "$B/t.small" >> "$B/small.kb.s"
  fi

  fresh_registry
  /usr/bin/time -v -o "$B/t.skopeo" bash -c 'while read -r ref; do
      skopeo copy -q --all --preserve-digests --dest-tls-verify=false "oci:'"$BUN"':$ref" \
        "docker://'"$HOST/$PROJECT"'/$ref" >/dev/null
    done < "'"$B"'/refs.txt"'
  secs "$B/t.skopeo" >> "$B/skopeo.s"

  fresh_registry
  /usr/bin/time -v -o "$B/t.curl" bash -c 'xargs -P '"$JOBS"' -L 1 "'"$B"'/put.sh" "'"$HOST"'" < "'"$B"'/blobs.txt"'
  secs "$B/t.curl" >> "$B/curl.s"
  # every blob landed, under its digest
  while read -r d _ repo; do
    curl -sfI "http://$HOST/v2/$repo/blobs/$d" >/dev/null || { echo "curl upload lost $repo@$d" >&2; exit 1; }
  done < "$B/blobs.txt"
  stop_registry

  small=; (( SMALL_JOBS > 0 )) && small="jobs-$SMALL_JOBS $(tail -1 "$B/small.s") s, "
  echo "run $r: bundle $(tail -1 "$B/bundle.s") s (push $(tail -1 "$B/bundle.in.s") s)," \
       "re-mirror $(tail -1 "$B/remirror.s") s, Harbor-like $(tail -1 "$B/harbor.s") s" \
       "(re-mirror $(tail -1 "$B/harbor.re.s") s), ${small}skopeo $(tail -1 "$B/skopeo.s") s, curl $(tail -1 "$B/curl.s") s"
done

TB=$(median < "$B/bundle.s"); TBI=$(median < "$B/bundle.in.s"); TR=$(median < "$B/remirror.s")
TRI=$(median < "$B/remirror.in.s"); TS=$(median < "$B/skopeo.s"); TC=$(median < "$B/curl.s")
TH=$(median < "$B/harbor.s"); THR=$(median < "$B/harbor.re.s")
RSS=$(median < "$B/rss.kb.s"); RSSMAX=$(sort -g "$B/rss.kb.s" | tail -1)
BYTES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"])' "$B/bundle.json")
echo
echo "date: $(date -u +%F), $(nproc) cores; data: $N images, $((BYTES / 1048576)) MiB pushed by bundle" \
     "($(wc -l < "$B/blobs.txt") distinct blobs, $((CURL_BYTES / 1048576)) MiB by curl); medians of $RUNS; --jobs $JOBS, curl -P $JOBS"
awk -v b="$TB" -v bi="$TBI" -v s="$TS" -v c="$TC" -v r="$TR" -v ri="$TRI" -v bytes="$BYTES" -v cb="$CURL_BYTES" \
    -v rss="$RSS" -v rssmax="$RSSMAX" -v h="$TH" -v hr="$THR" 'BEGIN{
  printf "bundle mirror     %6.2f s  %6.0f MB/s   (push phase %.2f s, verify+plan+start %.2f s)\n", b, bytes/1e6/b, bi, b-bi
  printf "skopeo --all      %6.2f s  %6.0f MB/s   bundle is %.2fx faster          (target >= 3x: %s)\n", s, bytes/1e6/s, s/b, (s/b >= 3 ? "met" : "MISSED")
  printf "curl PUT (ingest) %6.2f s  %6.0f MB/s   bundle runs at %.0f %% of it     (target >= 90 %%: %s)\n", c, cb/1e6/c, 100*c/b, (c/b >= 0.9 ? "met" : "MISSED")
  printf "re-mirror         %6.2f s              %.1f %% of the first mirror   (target < 2 %%: %s; push phase %.3f s = %.1f %%)\n", r, 100*r/b, (r/b < 0.02 ? "met" : "MISSED"), ri, 100*ri/b
  printf "Harbor-like       %6.2f s              first mirror, token auth + TLS\n", h
  printf "re-mirror there   %6.2f s              %.1f %% of its first mirror  (target < 10 %%: %s)\n", hr, 100*hr/h, (hr/h < 0.1 ? "met" : "MISSED")
  printf "bundle peak RSS   %6.1f MiB (max of runs %.1f)          (target < 64 MiB: %s)\n", rss/1024, rssmax/1024, (rssmax < 65536 ? "met" : "MISSED") }'
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(date -u +%FT%TZ)"
if (( SMALL_JOBS > 0 )); then
  TSM=$(median < "$B/small.s"); RSM=$(median < "$B/small.kb.s")
  awk -v t="$TSM" -v s="$TS" -v c="$TC" -v bytes="$BYTES" -v rss="$RSM" -v j="$SMALL_JOBS" 'BEGIN{
    printf "bundle --jobs %d   %6.2f s  %6.0f MB/s   %.2fx faster than skopeo, %.0f %% of the ingest limit, peak RSS %.1f MiB\n", j, t, bytes/1e6/t, s/t, 100*c/t, rss/1024 }'
fi
