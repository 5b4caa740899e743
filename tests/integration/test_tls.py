"""TLS termination (issue #10), the part built so far: a frontend's tls_*
keys are read and every certificate is loaded and checked at start (and by
ringlb -t), naming the file, the line and OpenSSL's reason. Serving TLS is
not built yet, so a frontend with tls_* keys is refused: it must never
answer in plain HTTP. Certificates come from a throwaway CA made with the
openssl command."""
import os
import subprocess
import tempfile

from harness import BINARY

CONF = """[global]
workers = 1
[frontend web]
listen = 127.0.0.1:18443
backend = app
%s
[backend app]
server = a 127.0.0.1:18080
"""


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=30)


def _pki(d):
    """A CA, and two certificates it signed (ECDSA P-256): site and api."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=test CA", "-keyout", os.path.join(d, "ca.key"), "-out", os.path.join(d, "ca.pem"))
    for name in ("site", "api"):
        key, csr, pem = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".pem"))
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                 "/CN=%s.test" % name, "-keyout", key, "-out", csr)
        _openssl("x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.pem"), "-CAkey", os.path.join(d, "ca.key"),
                 "-CAcreateserial", "-days", "2", "-out", pem)


def _check(d, keys):
    path = os.path.join(d, "t.ini")
    with open(path, "w") as f:
        f.write(CONF % keys)
    p = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


def test_certificates_are_checked_at_load_and_tls_is_refused_until_served():
    with tempfile.TemporaryDirectory() as d:
        _pki(d)
        site, site_key = os.path.join(d, "site.pem"), os.path.join(d, "site.key")
        api, api_key = os.path.join(d, "api.pem"), os.path.join(d, "api.key")
        good = "tls_cert = %s\ntls_key = %s\ntls_sni = api.test:%s:%s\ntls_min_version = 1.2" % (
            site, site_key, api, api_key)
        rc, out = _check(d, good)
        assert rc != 0 and "t.ini:6: tls_cert: the certificates load, but TLS termination is not served yet" in out, out

        rc, out = _check(d, "tls_cert = %s/missing.pem\ntls_key = %s" % (d, site_key))
        assert rc != 0 and "t.ini:6: tls_cert: %s/missing.pem: No such file or directory" % d in out, out

        rc, out = _check(d, "tls_cert = %s\ntls_key = %s" % (site, api_key))
        assert rc != 0 and "%s: the key does not match the certificate" % api_key in out, out

        rc, out = _check(d, "tls_cert = %s\ntls_key = %s\ntls_sni = api.test:%s:%s" % (site, site_key, api, site_key))
        assert rc != 0 and "t.ini:8: tls_sni: %s: the key does not match the certificate" % site_key in out, out

        rc, out = _check(d, "tls_cert = %s\ntls_key = %s" % (site_key, site_key))  # a key where the chain goes
        assert rc != 0 and "cannot load the certificate chain (PEM) (error:" in out, out  # with OpenSSL's reason


def test_tls_keys_are_parsed_strictly():
    with tempfile.TemporaryDirectory() as d:
        for keys, want in (
            ("tls_min_version = 1.1", "t.ini:6: tls_min_version: expected 1.2 or 1.3, got '1.1'"),
            ("tls_sni = api.test", "t.ini:6: tls_sni: expected NAME:CERT_PATH:KEY_PATH, got 'api.test'"),
            ("tls_key = /x.key", "tls_cert and tls_key go together"),
            ("tls_colour = blue", "unknown key 'tls_colour' in [frontend web]"),
        ):
            rc, out = _check(d, keys)
            assert rc != 0 and want in out, (keys, out)
