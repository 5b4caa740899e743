/* Cases of the llhttp corpus that llhttp accepts and ringlb refuses, each for
 * a stricter rule. test_http_conformance.c fails if this list and the parser
 * disagree. (Requests refused only for a missing Host, RFC 9112 3.2, are
 * counted by rule, not listed: most of the corpus omits Host.) */
{ "request/finish: It should be unsafe to finish inside of the header",
  "a head cut short: llhttp reports it only when told of EOF, we judge it as ended" },
{ "request/method: SOURCE request with ICE", "HTTP/1.x only: no ICE protocol" },
{ "request/method: OPTIONS request with RTSP", "HTTP/1.x only: no RTSP" },
{ "request/method: ANNOUNCE request with RTSP", "HTTP/1.x only: no RTSP" },
{ "request/sample: No HTTP version", "no HTTP/0.9: RFC 9112 request-line needs a version" },
{ "response/sample: RTSP response", "HTTP/1.x only: no RTSP" },
{ "response/sample: ICE response", "HTTP/1.x only: no ICE protocol" },
{ "response/sample: HTTP version 0.9", "no HTTP/0.9 from servers either" },
