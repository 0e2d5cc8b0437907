// Package tlsconf owns Gatehouse's HTTPS settings: the local certificate
// authority and localhost certificate generated into the data directory when
// no certificate is configured (EnsureLocal), the server-side tls.Config
// (ServerConfig), and the client side that trusts the system roots plus any
// extra CA files, such as that local CA (ClientConfig, HTTPClient).
package tlsconf
