/* Loaded by the agent (export/openssl_shims.cpp) before civetweb starts TLS, under the SONAME "libssl.so".
 *
 * Debian's civetweb 1.15 loads OpenSSL with dlopen("libssl.so") and looks its functions up by name, among them
 * SSL_get_peer_certificate, which OpenSSL 3 no longer exports (it is a macro for SSL_get1_peer_certificate): with
 * the real library civetweb's TLS set-up fails ("cannot find SSL_get_peer_certificate"). dlopen() matches an
 * already-loaded object by its SONAME, so civetweb gets this object instead, and dlsym() on it finds the function
 * below, and every other one in libssl.so.3, a dependency of this object. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

__attribute__((visibility("default"))) X509* SSL_get_peer_certificate(const SSL* s)
{
    /* OpenSSL 1.1's function returned a new reference too: civetweb frees it. */
    return SSL_get1_peer_certificate(s);
}
