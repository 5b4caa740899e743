/* Socket addresses from text. */
#ifndef RINGLB_ADDR_H
#define RINGLB_ADDR_H

#include <sys/socket.h>

/** Parses "IPv4:port" or "[IPv6]:port" (numeric; port 1..65535) into *ss and
 * *len. Returns 0 or -EINVAL, leaving nothing half set that a caller reads. */
int rlb_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
