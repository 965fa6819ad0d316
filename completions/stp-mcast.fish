# fish completion for stp-mcast(1). tests/docs.bats checks every
# `complete -c stp-mcast` line against `stp-mcast --help`.

# Operands: GROUP PORT (numeric: nothing to offer).
complete -c stp-mcast -f
complete -c stp-mcast -s s -l send -d 'send stdin datagrams to the group instead of receiving'
complete -c stp-mcast -l both -d 'send stdin datagrams to the group and print the group datagrams'
complete -c stp-mcast -l ttl -x -d 'TTL of the datagrams sent (default 1; the proxy may cap it)'
complete -c stp-mcast -l source -x -d 'source-specific membership: only datagrams from ADDR'
complete -c stp-mcast -l tcp -d 'carry the datagrams on the TCP connection to the proxy'
complete -c stp-mcast -l format -x -a 'line raw hex json' -d 'datagrams on stdin/stdout (default line)'
complete -c stp-mcast -l wait -x -d 'with --both: after stdin ends, exit once nothing came for SECS'
complete -c stp-mcast -s x -l proxy -x -a 'socks4:// socks4a:// socks5:// socks5h:// socks5s:// socks5hs:// http:// https://' -d 'the proxy URL (repeat to chain; the first is contacted first)'
complete -c stp-mcast -s U -l proxy-user -x -a '(__fish_complete_users)' -d 'USER[:PASS] for the last hop without credentials in its URL'
complete -c stp-mcast -l config -r -F -d 'client configuration: proxies and routes (FILE, http(s) or proxy URL)'
complete -c stp-mcast -l password-file -r -F -d 'read the proxy password from the first line of FILE'
complete -c stp-mcast -s 4 -l ipv4 -d 'resolve names the client resolves to IPv4 only'
complete -c stp-mcast -s 6 -l ipv6 -d 'resolve names the client resolves to IPv6 only'
complete -c stp-mcast -s w -l timeout -x -d 'limit for reaching the proxy, the handshake and the target (default 30)'
complete -c stp-mcast -l keepalive -x -d 'TCP keepalive to the proxy: probe after SECS idle'
complete -c stp-mcast -l cacert -r -F -d 'TLS to the proxy: trust the CA certificates in FILE (PEM)'
complete -c stp-mcast -l cert -r -F -d 'TLS to the proxy: present this client certificate (PEM)'
complete -c stp-mcast -l key -r -F -d 'TLS to the proxy: the client certificate key (PEM)'
complete -c stp-mcast -l insecure -d 'TLS to the proxy: do not verify its certificate (dangerous)'
complete -c stp-mcast -l json -d 'machine output: one JSON object per line'
complete -c stp-mcast -s v -l verbose -d 'more diagnostics on stderr (repeatable)'
complete -c stp-mcast -s q -l quiet -d 'only errors on stderr'
complete -c stp-mcast -s h -l help -d 'show this help and exit'
complete -c stp-mcast -s V -l version -d 'show the version and exit'
