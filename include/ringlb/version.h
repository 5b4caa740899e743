/* ringlb's version, as `ringlb_build_info` reports it. */
#ifndef RINGLB_VERSION_H
#define RINGLB_VERSION_H

#define RLB_VERSION "0.7.0-dev"

#endif
