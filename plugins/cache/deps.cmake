# The cache plugin: the Redis client glue (hiredis) and SHA-256 (mbedTLS).
set(LLMRT_PLUGIN_COMMON redis_loop.c)
set(LLMRT_PLUGIN_LIBS PkgConfig::HIREDIS ${MBEDCRYPTO_LIB})
