/* probe_http.c - stp-probe's --url check: a real HTTP(S) fetch through the
 * proxy with libcurl (CURLOPT_PROXY socks5h://... resolves remotely), with
 * its status and the name-lookup, connect, TLS and first-byte times. The
 * body is counted and dropped; the whole fetch is bounded by -w. */
#include <curl/curl.h>
#include <stdio.h>

#include "core/tls.h"
#include "probe/probe.h"

static size_t count_body(char *data, size_t size, size_t nmemb, void *arg)
{
	curl_off_t *n = arg;

	(void)data;
	*n += (curl_off_t)(size * nmemb);
	return size * nmemb;
}

/* A curl time in microseconds as milliseconds. */
static double ms(CURL *c, CURLINFO what)
{
	curl_off_t t = 0;

	if (curl_easy_getinfo(c, what, &t) != CURLE_OK)
		return 0;
	return (double)t / 1000.0;
}

enum stp_probe_status stp_probe_http(const char *url, const char *proxy_url, const char *user,
				     const char *pass, const struct stp_tls_client_cfg *tls,
				     long timeout_ms, char *detail, size_t cap, json_t *data,
				     int *code)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_off_t body = 0;
	long status = 0;
	CURL *c = curl_easy_init();
	CURLcode rc;

	if (!c) {
		snprintf(detail, cap, "cannot start libcurl");
		*code = STP_EXIT_FAIL;
		return PS_FAIL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, proxy_url);
	if (user) {
		curl_easy_setopt(c, CURLOPT_PROXYUSERNAME, user);
		curl_easy_setopt(c, CURLOPT_PROXYPASSWORD, pass ? pass : "");
	}
	if (tls) {
		/* the proxy's TLS trusts what the other checks trust: a private
		 * CA (--cacert), a client certificate, or nothing (--insecure) */
		if (tls->cacert)
			curl_easy_setopt(c, CURLOPT_PROXY_CAINFO, tls->cacert);
		if (tls->cert)
			curl_easy_setopt(c, CURLOPT_PROXY_SSLCERT, tls->cert);
		if (tls->key)
			curl_easy_setopt(c, CURLOPT_PROXY_SSLKEY, tls->key);
		if (tls->insecure) {
			curl_easy_setopt(c, CURLOPT_PROXY_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(c, CURLOPT_PROXY_SSL_VERIFYHOST, 0L);
		}
	}
	curl_easy_setopt(c, CURLOPT_NOPROXY, "");   /* NO_PROXY must not bypass the probe */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, count_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "stp-probe");
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	double dns = ms(c, CURLINFO_NAMELOOKUP_TIME_T), conn = ms(c, CURLINFO_CONNECT_TIME_T);
	double tls_ms = ms(c, CURLINFO_APPCONNECT_TIME_T), first = ms(c, CURLINFO_STARTTRANSFER_TIME_T);
	double total = ms(c, CURLINFO_TOTAL_TIME_T);
	curl_easy_cleanup(c);
	json_object_set_new(data, "url", json_string(url));
	json_object_set_new(data, "http_status", json_integer(status));
	json_object_set_new(data, "bytes", json_integer((json_int_t)body));
	json_object_set_new(data, "namelookup_ms", json_real(dns));
	json_object_set_new(data, "connect_ms", json_real(conn));
	json_object_set_new(data, "tls_ms", json_real(tls_ms));
	json_object_set_new(data, "first_byte_ms", json_real(first));
	json_object_set_new(data, "total_ms", json_real(total));
	if (rc != CURLE_OK) {
		json_object_set_new(data, "curl_error", json_string(curl_easy_strerror(rc)));
		snprintf(detail, cap, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		*code = rc == CURLE_COULDNT_CONNECT ? STP_EXIT_REACH :
			rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
			rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE
				? STP_EXIT_TLS :
			rc == CURLE_OPERATION_TIMEDOUT ? STP_EXIT_REPLY + 6 : STP_EXIT_FAIL;
		return PS_FAIL;
	}
	snprintf(detail, cap, "%s: HTTP %ld, %lld bytes; name lookup %.1f ms, connect %.1f ms, "
		 "TLS %.1f ms, first byte %.1f ms, total %.1f ms", url, status, (long long)body,
		 dns, conn, tls_ms, first, total);
	return status >= 400 ? PS_WARN : PS_OK;
}
