/* Runs Node's llhttp corpus (tests/conformance/llhttp_cases.py makes the case
 * file from ../shared/conformance/llhttp) through our parser, each message
 * right before a guard page.
 *
 * Where llhttp rejects, we must reject. Where llhttp accepts, we must accept,
 * unless a stricter rule applies: every such case is listed in `differences`
 * with its reason, and the test fails if the list and reality disagree in
 * either direction, so a difference can be neither added nor lost silently.
 * Cases llhttp accepts only with an opt-in leniency flag must be rejected. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ringlb/http_parser.h"
#include "guard.h"

struct difference {
	const char *name; /* the case, as "dir/file: heading" */
	const char *why;
};

static const struct difference differences[] = {
#include "conformance_differences.h"
	{ NULL, NULL },
};

static const struct rlb_http_limits limits = { 16384, 8192 };

static ssize_t parse(int response, const char *buf, size_t len, struct rlb_http_msg *m)
{
	return response ? rlb_http_parse_response(buf, len, 0, &limits, 0, m) :
			  rlb_http_parse_request(buf, len, 0, &limits, m);
}

/* llhttp streams and can fail on the first bad byte; we parse whole heads.
 * For a head cut short in the corpus, judge it as if its end followed. */
static ssize_t parse_head(int response, const char *buf, size_t len, struct rlb_http_msg *m)
{
	ssize_t n = parse(response, buf, len, m);
	struct guarded g;
	char *ended;

	if (n != -EAGAIN)
		return n;
	ended = malloc(len + 4);
	memcpy(ended, buf, len);
	memcpy(ended + len, "\r\n\r\n", 4);
	g = guard_copy(ended, len + 4);
	n = parse(response, g.data, len + 4, m); /* only m->error is used after this */
	guard_free(&g);
	free(ended);
	return n < 0 ? n : -EAGAIN;
}

/* Walks every message in buf; returns 1 if the parser rejects any, with
 * *why set to the parser's reason. */
static int rejects(int response, const char *buf, size_t len, const char **why)
{
	size_t off = 0;

	while (off < len) {
		struct rlb_http_msg m;
		ssize_t n = parse_head(response, buf + off, len - off, &m);

		if (n == -EAGAIN)
			return 0; /* incomplete is not an error */
		*why = m.error;
		if (n < 0)
			return 1;
		off += (size_t)n;
		if ((!response && rlb_http_token_eq(m.method, m.method_len, "CONNECT")) ||
		    ((m.flags & RLB_HTTP_HAS_UPGRADE) && (m.flags & RLB_HTTP_CONN_UPGRADE)) ||
		    m.body == RLB_BODY_EOF)
			return 0; /* the rest is tunnel or body-until-close bytes */
		if (m.body == RLB_BODY_LENGTH) {
			off += m.content_length < len - off ? m.content_length : len - off;
		} else if (m.body == RLB_BODY_CHUNKED) {
			struct rlb_chunked ch = { 0 };
			ssize_t r = rlb_chunked_feed(&ch, buf + off, len - off);

			*why = "bad chunked framing";
			if (r < 0)
				return 1;
			off += (size_t)r;
			if (!ch.done)
				return 0;
		}
		if ((m.flags & RLB_HTTP_CONN_CLOSE) && off < len && (!response || m.status >= 200)) {
			*why = "data after Connection: close"; /* the proxy closes, never forwards it */
			return 1;
		}
		if (response && m.status >= 200)
			return 0; /* one response per request: extra bytes only end reuse */
	}
	return 0;
}

static const struct difference *listed(const char *name)
{
	const struct difference *d;

	for (d = differences; d->name; d++)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static unsigned char *unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2, i;
	unsigned char *out = malloc(n + 1);

	for (i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	*len = n;
	return out;
}

static void test_corpus(void **state)
{
	const char *path = getenv("RLB_LLHTTP_CASES");
	char *line = NULL, *save;
	size_t cap = 0, listed_seen = 0, total = 0, bad = 0, hostless = 0;
	FILE *f;

	(void)state;
	if (path == NULL || (f = fopen(path, "r")) == NULL)
		skip(); /* no corpus beside the checkout */
	while (getline(&line, &cap, f) > 0) {
		char *kind = strtok_r(line, "\t", &save), *expect = strtok_r(NULL, "\t", &save);
		char *name = strtok_r(NULL, "\t", &save), *hex = strtok_r(NULL, "\t\n", &save);
		size_t len = 0;
		unsigned char *bytes = unhex(hex ? hex : "", &len);
		int want_reject = strstr(kind, "lenient") || strcmp(expect, "error") == 0;
		const char *why = NULL;
		struct guarded g = guard_copy(bytes, len);
		int got_reject = rejects(strncmp(kind, "response", 8) == 0, g.data, len, &why);
		const struct difference *d = listed(name);

		total++;
		if (got_reject && !want_reject && why && strcmp(why, "missing Host") == 0) {
			/* One rule, not a case: RFC 9112 3.2 says a server MUST
			 * answer 400 to HTTP/1.1 without Host; llhttp leaves that
			 * to its user, and most of the corpus omits Host. */
			hostless++;
		} else if (d != NULL) {
			listed_seen++;
			if (want_reject || !got_reject) {
				print_error("listed difference no longer differs: %s\n", name);
				bad++;
			}
		} else if (want_reject != got_reject) {
			print_error("%s: llhttp %s, we %s (%s)\n", name, want_reject ? "rejects" : "accepts",
				    got_reject ? "reject" : "accept", why ? why : "-");
			bad++;
		}
		guard_free(&g);
		free(bytes);
	}
	free(line);
	fclose(f);
	if (total == 0)
		skip(); /* the Makefile found no corpus and wrote an empty case file */
	print_message("llhttp corpus: %zu cases, %zu listed differences, %zu rejected only for "
		      "missing Host\n", total, listed_seen, hostless);
	assert_true(total > 200);
	assert_int_equal(listed_seen, sizeof(differences) / sizeof(differences[0]) - 1);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
