# fish completion for stp-udp(1). tests/docs.bats checks every
# `complete -c stp-udp` line against `stp-udp --help`.

# Operands: HOST PORT.
complete -c stp-udp -f -a '(__fish_print_hostnames)'
complete -c stp-udp -s L -l local -x -d 'local UDP forward: datagrams to [ADDR:]PORT go to HOST PORT'
complete -c stp-udp -s l -l listen -d 'UDP BIND: a port on the proxy that takes datagrams from any peer'
complete -c stp-udp -l tcp -d 'carry the datagrams on the TCP connection to the proxy'
complete -c stp-udp -l format -x -a 'line raw hex json' -d 'datagrams on stdin/stdout (default line)'
complete -c stp-udp -l wait -x -d 'after stdin ends, exit once nothing came for SECS (default 1)'
complete -c stp-udp -s x -l proxy -x -d 'the proxy URL (repeat to chain; the first is contacted first)'
complete -c stp-udp -s U -l proxy-user -x -a '(__fish_complete_users)' -d 'USER[:PASS] for the last hop without credentials in its URL'
complete -c stp-udp -l password-file -r -F -d 'read the proxy password from the first line of FILE'
complete -c stp-udp -s 4 -l ipv4 -d 'resolve names the client resolves to IPv4 only'
complete -c stp-udp -s 6 -l ipv6 -d 'resolve names the client resolves to IPv6 only'
complete -c stp-udp -s w -l timeout -x -d 'limit for reaching the proxy and the handshake (default 30)'
complete -c stp-udp -l json -d 'machine output: one JSON object per line'
complete -c stp-udp -s v -l verbose -d 'more diagnostics on stderr (repeatable)'
complete -c stp-udp -s q -l quiet -d 'only errors on stderr'
complete -c stp-udp -s h -l help -d 'show this help and exit'
complete -c stp-udp -s V -l version -d 'show the version and exit'
