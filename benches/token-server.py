#!/usr/bin/env python3
"""benches/token-server.py — a token service shaped like Harbor's /service/token, for the benchmarks.

    token-server.py DIR PORT USER PASSWORD

Serves `GET /service/token?service=harbor-registry&scope=repository:NAME:pull,push&…` on 127.0.0.1:PORT
(plain HTTP, as the registry's realm names it): with the right Basic credentials it answers
{"token": JWT, "expires_in": 1800, "issued_at": …} granting the requested actions on the requested
repositories; anything else gets 401. The JWT is RS256, signed with `openssl dgst -sha256 -sign` by
DIR/token.key, and carries DIR/token.crt (which the registry trusts as its rootcertbundle) as `x5c`.
Only the Python standard library and the openssl command are used.
"""
import base64, json, os, subprocess, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

DIR, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ISSUER, SERVICE, LIFETIME = "bundle-bench", "harbor-registry", 1800
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
DER = subprocess.run(["openssl", "x509", "-in", os.path.join(DIR, "token.crt"), "-outform", "DER"],
                     check=True, capture_output=True).stdout
HEADER = b64u(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(DER).decode()]}).encode())

def sign(claims):
    head = HEADER + "." + b64u(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(DIR, "token.key")],
                         input=head.encode(), check=True, capture_output=True).stdout
    return head + "." + b64u(sig)

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if url.path != "/service/token" or auth != want:
            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
        access = []
        for scope in parse_qs(url.query).get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
        now = int(time.time())
        token = sign({"iss": ISSUER, "sub": USER, "aud": SERVICE, "iat": now, "nbf": now - 5,
                      "exp": now + LIFETIME, "jti": uuid.uuid4().hex, "access": access})
        body = json.dumps({"token": token, "expires_in": LIFETIME,
                           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
