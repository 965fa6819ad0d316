# fish completion for stp-probe(1). tests/docs.bats checks every
# `complete -c stp-probe` line against `stp-probe --help`.

# Operand: the proxy URL.
complete -c stp-probe -f
complete -c stp-probe -l target -x -d 'CONNECT to HOST:PORT instead of the probe'\''s own listener'
complete -c stp-probe -l udp-target -x -d 'a UDP echo service HOST:PORT for the UDP round trip'
complete -c stp-probe -l name -x -a '(__fish_print_hostnames)' -d 'a name only the proxy can resolve'
complete -c stp-probe -l url -x -d 'fetch this http(s) URL through the proxy'
complete -c stp-probe -l bandwidth -x -d 'measure throughput with BYTES each way (e.g. 512K, 1.5M)'
complete -c stp-probe -l require -x -a 'reach detect tls methods auth connect dns ipv6 bind bind-multi udp resolve resolve-ptr features latency http bandwidth' -d 'FAIL when these checks are missing'
complete -c stp-probe -s n -l tries -x -d 'latency tries (default 10)'
complete -c stp-probe -l color -x -a 'auto always never' -d 'colour the report'
complete -c stp-probe -s x -l proxy -x -a 'socks4:// socks4a:// socks5:// socks5h:// socks5s:// socks5hs:// http:// https://' -d 'reach the probed proxy through this one (repeat to chain)'
complete -c stp-probe -s U -l proxy-user -x -a '(__fish_complete_users)' -d 'USER[:PASS] for the probed proxy when its URL has none'
complete -c stp-probe -l password-file -r -F -d 'read the proxy password from the first line of FILE'
complete -c stp-probe -l config -r -F -d 'client configuration: proxies and routes (FILE, http(s) or proxy URL)'
complete -c stp-probe -s 4 -l ipv4 -d 'reach the proxy (the first -x hop) over IPv4 only'
complete -c stp-probe -s 6 -l ipv6 -d 'reach the proxy (the first -x hop) over IPv6 only'
complete -c stp-probe -s w -l timeout -x -d 'limit for reaching the proxy, the handshake and the target (default 30)'
complete -c stp-probe -l cacert -r -F -d 'TLS to the proxy: trust the CA certificates in FILE'
complete -c stp-probe -l cert -r -F -d 'TLS to the proxy: client certificate'
complete -c stp-probe -l key -r -F -d 'TLS to the proxy: the client certificate'\''s key'
complete -c stp-probe -l insecure -d 'TLS to the proxy: do not verify its certificate'
complete -c stp-probe -l json -d 'print one JSON document at the end instead of the report'
complete -c stp-probe -s v -l verbose -d 'more diagnostics on stderr (repeatable)'
complete -c stp-probe -s q -l quiet -d 'only failed checks and the verdict'
complete -c stp-probe -s h -l help -d 'show this help and exit'
complete -c stp-probe -s V -l version -d 'show the version and exit'
