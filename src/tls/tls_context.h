/* TLS termination's certificates (issue #10): what a frontend's tls_*
 * keys name, loaded into OpenSSL contexts. This part checks them at load
 * (ringlb -t and the start say which file and OpenSSL's reason); the data
 * path (memory BIOs on the io_uring loop) is not built yet. */
#ifndef RINGLB_TLS_CONTEXT_H
#define RINGLB_TLS_CONTEXT_H

#include <stddef.h>

#define RLB_TLS_SNI_MAX 16
#define RLB_TLS_PATH_MAX 256

/* A certificate chain (PEM) and its private key. */
struct rlb_tls_pair {
	char cert[RLB_TLS_PATH_MAX];
	char key[RLB_TLS_PATH_MAX];
	int line; /* where the config named it */
};

/* A frontend's TLS settings, allocated once a tls_* key appears. */
struct rlb_tls_config {
	struct rlb_tls_pair deflt;                 /* tls_cert, tls_key */
	char sni_name[RLB_TLS_SNI_MAX][256];        /* tls_sni = NAME:CERT:KEY */
	struct rlb_tls_pair sni[RLB_TLS_SNI_MAX];
	int nsni;
	int min_version;                           /* TLS1_2_VERSION or TLS1_3_VERSION */
};

/** Loads pair into a server context with t's settings (minimum version,
 * ALPN http/1.1, session tickets on) and checks that the key matches the
 * certificate. Returns the SSL_CTX (as void *, so config users need no
 * OpenSSL headers) or NULL with "PATH: OpenSSL's reason" in err. Main
 * thread. */
void *rlb_tls_context_new(const struct rlb_tls_config *t, const struct rlb_tls_pair *pair, char *err, size_t errlen);
/** Frees a context from rlb_tls_context_new (NULL is fine). */
void rlb_tls_context_free(void *ctx);
/** Loads every certificate t names, to check them; 0, or -EINVAL with the
 * first problem in err and its config line in *line. */
int rlb_tls_check(const struct rlb_tls_config *t, char *err, size_t errlen, int *line);

#endif
