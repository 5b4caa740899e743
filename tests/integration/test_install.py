"""make install: what lands where, the installed binary runs, the systemd
unit points at it, and the man page (made from the README) names every
configuration key the README's table does."""
import os
import re
import subprocess
import tempfile

from harness import ROOT


def readme_keys():
    with open(os.path.join(ROOT, "README.md")) as f:
        md = f.read()
    table = md.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| \w+ \| `([a-z_]+)` \|", table, re.M)


def test_make_install_puts_everything_in_place_and_the_man_page_agrees_with_the_readme():
    with tempfile.TemporaryDirectory() as dest:
        res = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest, "PREFIX=/usr"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        usr = os.path.join(dest, "usr")
        for path in ("sbin/ringlb", "bin/ringlb-load", "bin/ringlb-testserver", "share/man/man8/ringlb.8",
                     "include/ringlb/balancer.h", "lib/systemd/system/ringlb.service",
                     "share/doc/ringlb/ringlb.ini.example"):
            assert os.path.exists(os.path.join(usr, path)), path
        out = subprocess.run([os.path.join(usr, "sbin", "ringlb"), "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        assert out.startswith("ringlb "), out
        out = subprocess.run([os.path.join(usr, "sbin", "ringlb"), "-t", "-c",
                              os.path.join(usr, "share/doc/ringlb/ringlb.ini.example")],
                             capture_output=True, text=True, timeout=10).stdout
        assert "configuration OK" in out, out
        with open(os.path.join(usr, "lib/systemd/system/ringlb.service")) as f:
            unit = f.read()
        assert "ExecStart=/usr/sbin/ringlb -c /etc/ringlb/ringlb.ini" in unit and "@SBINDIR@" not in unit, unit
        assert "ExecReload=" in unit and "LimitNOFILE=" in unit
        with open(os.path.join(usr, "share/man/man8/ringlb.8")) as f:
            page = f.read()
        keys = readme_keys()
        assert len(keys) > 30, keys
        missing = [k for k in keys if "\\fB%s\\fR (default:" % k.replace("-", "\\-") not in page]
        assert not missing, missing
        assert page.startswith(".TH RINGLB 8"), page[:80]
