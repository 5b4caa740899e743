/* OpenSSL server contexts for a frontend's certificates: loaded and checked
 * at config load, so a bad file stops the start with its path and
 * OpenSSL's reason rather than failing every handshake later. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "tls/tls_context.h"

/* OpenSSL's reason for the last failure, or what we tried. */
static void reason(char *err, size_t errlen, const char *path, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s (%s)", path, what, buf);
	} else {
		snprintf(err, errlen, "%s: %s", path, what);
	}
	ERR_clear_error();
}

/* ALPN: HTTP/1.1 is all ringlb speaks; a client offering only h2 gets no
 * ALPN answer and may go on with HTTP/1.1 or leave (RFC 7301 3.2). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	static const unsigned char http11[] = "\x08http/1.1";

	(void)ssl, (void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof(http11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

/* OpenSSL says only "system lib" for a file it cannot open: say why. */
static int readable(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return 0;
	}
	fclose(f);
	return 1;
}

void *rlb_tls_context_new(const struct rlb_tls_config *t, const struct rlb_tls_pair *pair, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (!readable(pair->cert, err, errlen) || !readable(pair->key, err, errlen))
		return NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		reason(err, errlen, "TLS", "cannot make a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, t->min_version);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, pair->cert) != 1) {
		reason(err, errlen, pair->cert, "cannot load the certificate chain (PEM)");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, pair->key, SSL_FILETYPE_PEM) != 1) {
		/* (OpenSSL 3 checks the pair while loading the key) */
		reason(err, errlen, pair->key,
		       ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
			       ? "the key does not match the certificate"
			       : "cannot load the private key (PEM)");
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		reason(err, errlen, pair->key, "the key does not match the certificate");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void rlb_tls_context_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

int rlb_tls_check(const struct rlb_tls_config *t, char *err, size_t errlen, int *line)
{
	for (int i = -1; i < t->nsni; i++) {
		const struct rlb_tls_pair *p = i < 0 ? &t->deflt : &t->sni[i];
		void *ctx = rlb_tls_context_new(t, p, err, errlen);

		if (ctx == NULL) {
			*line = p->line;
			return -EINVAL;
		}
		rlb_tls_context_free(ctx);
	}
	return 0;
}
