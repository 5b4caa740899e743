"""The log: levels (log_level), and backend and server names on every line
that has them."""
from harness import free_port, get, proxy, request, wait_for


def test_log_level_warning_keeps_server_trouble_and_drops_the_rest():
    dead = ("dead", free_port(), "")
    with proxy(1, extra_servers=[dead], global_extra="log_level = warning",
               backend_extra="eject_after = 0\nretries = 1") as (lb, _):
        for _ in range(4):
            assert get(lb.port)[0] == 200  # round robin: one of them meets the dead server first
        assert request(lb.port, b"GET / HTTP/1.1\r\n\r\n")[0] == 400  # no Host: the client's fault
        wait_for(lambda: "connect failed" in lb.output(), what="the connect failure")
        out = lb.output()
        assert "ringlb: warning: backend app server dead: connect failed: " in out, out
        assert "worker(s) running" not in out and "answering 400" not in out, out


def test_info_names_the_frontend_of_a_refused_request_and_debug_says_retries_and_checks():
    dead = ("dead", free_port(), "")
    with proxy(1, extra_servers=[dead], global_extra="log_level = debug", backend_extra="eject_after = 0") as (lb, _):
        assert request(lb.port, b"GET / HTTP/1.1\r\n\r\n")[0] == 400
        wait_for(lambda: "answering 400" in lb.output(), what="the refusal")
        assert "ringlb: frontend main client 127.0.0.1: " in lb.output(), lb.output()
        for _ in range(2):
            assert get(lb.port)[0] == 200
        assert "debug: backend app server dead: connect failed; retrying the request elsewhere (retry 1 of" \
            in lb.output(), lb.output()
    with proxy(1, global_extra="log_level = debug", backend_extra="health_check = /healthz\n"
               "health_interval = 200ms") as (lb, _):
        wait_for(lambda: "debug: backend app server s1: health check pass: status 200" in lb.output(),
                 what="a check's result")
    with proxy(1) as (lb, _):  # info: neither
        wait_for(lambda: "worker(s) running" in lb.output(), what="the start")
        assert get(lb.port)[0] == 200 and "debug" not in lb.output()
