// A third-party BIND client: the npm package "socks" (v2).
const { SocksClient } = require('socks');
const net = require('net');
const port = parseInt(process.argv[2], 10);
const client = new SocksClient({
  proxy: { host: '127.0.0.1', port, type: 5 },
  command: 'bind',
  destination: { host: '0.0.0.0', port: 0 },
  timeout: 10000,
});
client.on('bound', (info) => {
  const host = info.remoteHost.host === '0.0.0.0' ? '127.0.0.1' : info.remoteHost.host;
  console.log('bound ' + host + ' ' + info.remoteHost.port);
  const peer = net.connect(info.remoteHost.port, host, () => peer.write('from peer'));
  peer.on('data', (d) => { console.log('peer got ' + d); peer.end(); });
});
client.on('established', (info) => {
  console.log('established ' + info.remoteHost.host);
  info.socket.on('data', (d) => { console.log('binder got ' + d); info.socket.end('from binder'); });
});
client.on('error', (err) => { console.log('error ' + err.message); process.exit(1); });
client.connect();
setTimeout(() => { console.log('timeout'); process.exit(2); }, 15000).unref();
