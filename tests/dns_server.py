"""A tiny DNS server for the tests: UDP on 127.0.0.1, A records from a dict
the test changes while ringlb runs (name -> list of IPv4 addresses). AAAA
questions get an empty answer (NODATA), unknown names NXDOMAIN; with
`silent` set it answers nothing (a resolver that went away)."""
import socket
import struct
import threading


class DnsServer:
    def __init__(self, records=None):
        self.records = dict(records or {})
        self.silent = False
        self.questions = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def _answer(self, data):
        if len(data) < 12 or self.silent:
            return None
        qid, _flags, qdcount = struct.unpack("!HHH", data[:6])
        if qdcount != 1:
            return None
        labels, i = [], 12
        while i < len(data) and data[i] != 0:
            n = data[i]
            labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace").lower())
            i += 1 + n
        question_end = i + 5
        if question_end > len(data):
            return None
        qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
        name = ".".join(labels)
        self.questions += 1
        question = data[12:question_end]
        if name not in self.records:
            return struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
        addrs = list(self.records[name]) if qtype == 1 else []
        answers = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(a) for a in addrs)
        return struct.pack("!HHHHHH", qid, 0x8180, 1, len(addrs), 0, 0) + question + answers

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
