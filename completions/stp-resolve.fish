# fish completion for stp-resolve(1). tests/docs.bats checks every
# `complete -c stp-resolve` line against `stp-resolve --help`.

# Operands: NAME...
complete -c stp-resolve -f -a '(__fish_print_hostnames)'
complete -c stp-resolve -s r -l reverse -d 'look addresses up (RESOLVE_PTR): print ADDR NAME'
complete -c stp-resolve -s t -l type -x -a 'A AAAA CNAME MX NS PTR SOA SRV TXT CAA ANY' -d 'any record type through the DNS channel'
complete -c stp-resolve -l listen -x -d 'a local DNS stub on [ADDR:]PORT, UDP and TCP, answering through the proxy'
complete -c stp-resolve -s x -l proxy -x -d 'the proxy URL (repeat to chain; the first is contacted first)'
complete -c stp-resolve -s U -l proxy-user -x -a '(__fish_complete_users)' -d 'USER[:PASS] for the last hop without credentials in its URL'
complete -c stp-resolve -l config -r -F -d 'client configuration: proxies and routes (FILE, http(s) or proxy URL)'
complete -c stp-resolve -l password-file -r -F -d 'read the proxy password from the first line of FILE'
complete -c stp-resolve -s 4 -l ipv4 -d 'resolve names the client resolves to IPv4 only'
complete -c stp-resolve -s 6 -l ipv6 -d 'resolve names the client resolves to IPv6 only'
complete -c stp-resolve -s w -l timeout -x -d 'limit for reaching the proxy, the handshake and the target (default 30)'
complete -c stp-resolve -l cacert -r -F -d 'TLS to the proxy: trust the CA certificates in FILE (PEM)'
complete -c stp-resolve -l cert -r -F -d 'TLS to the proxy: present this client certificate (PEM)'
complete -c stp-resolve -l key -r -F -d 'TLS to the proxy: the client certificate key (PEM)'
complete -c stp-resolve -l insecure -d 'TLS to the proxy: do not verify its certificate (dangerous)'
complete -c stp-resolve -l json -d 'one JSON object per answer'
complete -c stp-resolve -s v -l verbose -d 'more diagnostics on stderr (repeatable)'
complete -c stp-resolve -s q -l quiet -d 'only errors on stderr'
complete -c stp-resolve -s h -l help -d 'show this help and exit'
complete -c stp-resolve -s V -l version -d 'show the version and exit'
