# The limits plugin: the Redis client glue (hiredis) for shared buckets.
set(LLMRT_PLUGIN_COMMON redis_loop.c)
set(LLMRT_PLUGIN_LIBS PkgConfig::HIREDIS)
