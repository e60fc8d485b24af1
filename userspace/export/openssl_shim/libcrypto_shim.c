/* Loaded by the agent under the SONAME "libcrypto.so" (see libssl_shim.c): civetweb also opens "libcrypto.so",
 * a name only Debian's libssl-dev provides. This object defines nothing; its dependency libcrypto.so.3 has every
 * function civetweb looks up. */
__attribute__((visibility("default"))) int memsight_libcrypto_shim;
