# Captures what a real FTP server sends (greeting, replies, LIST/NLST/MLSD listings) into a JSON
# fixture for tests/codec/ftp_servers_test.ts. Run it against a server on loopback, logged in as
# anonymous, in a directory holding boot.cfg (1234 bytes), "a name with spaces.txt", pub/ with
# small.bin (5 bytes, modified 2025-01-01 12:00 UTC), incoming/, and a link lib -> pub:
#
#   python3 scripts/capture_ftp_fixtures.py PORT "SERVER NAME" > tests/codec/fixtures/ftp_NAME.json
#
# The fixtures in the repository were captured from Debian 12's vsftpd 3.0.3, ProFTPD 1.3.8 and
# pyftpdlib 1.5.7.
import json, socket, sys, re
port = int(sys.argv[1]); name = sys.argv[2]
ctl = socket.create_connection(("127.0.0.1", port), timeout=5)
buf = b""
def reply():
    global buf
    raw = b""
    code = None
    while True:
        while b"\n" not in buf:
            chunk = ctl.recv(4096)
            if not chunk: return raw.decode("utf-8", "replace")
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        line += b"\n"
        raw += line
        text = line.decode("utf-8", "replace")
        if code is None:
            code = text[:3]
            if text[3:4] != "-": return raw.decode("utf-8", "replace")
        elif text.startswith(code + " ") or text.rstrip("\r\n") == code:
            return raw.decode("utf-8", "replace")
def cmd(line):
    ctl.sendall(line.encode() + b"\r\n")
    return reply()
out = {"server": name, "greeting": reply(), "replies": {}, "data": {}}
out["replies"]["USER anonymous"] = cmd("USER anonymous")
if out["replies"]["USER anonymous"].startswith("331"):
    out["replies"]["PASS"] = cmd("PASS anonymous@")
for c in ["SYST", "FEAT", "PWD", "TYPE I", "SIZE boot.cfg", "MDTM pub/small.bin", "CWD nowhere", "MKD newdir", "EPSV", "PASV"]:
    out["replies"][c] = cmd(c)
def data(command):
    r = cmd("PASV")
    nums = list(map(int, re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", r).groups()))
    d = socket.create_connection(("127.0.0.1", nums[4] * 256 + nums[5]), timeout=5)
    first = cmd(command)
    if not first.startswith(("125", "150")):
        d.close(); return {"reply": first}
    body = b""
    while True:
        chunk = d.recv(65536)
        if not chunk: break
        body += chunk
    d.close()
    return {"reply": first, "final": reply(), "body": body.decode("utf-8", "replace")}
for c in ["LIST", "LIST -a", "NLST", "MLSD", "LIST pub"]:
    out["data"][c] = data(c)
out["replies"]["MLST boot.cfg"] = cmd("MLST boot.cfg")
out["replies"]["HELP"] = cmd("HELP")
out["replies"]["STAT"] = cmd("STAT")
out["replies"]["QUIT"] = cmd("QUIT")
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
