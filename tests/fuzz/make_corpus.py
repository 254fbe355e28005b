#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ from the
transcripts in tests/data/ plus hand-written hostile cases. Deterministic:
run it again after changing the cases, and commit the result. Each file is
named after its content's SHA-1 prefix (as libFuzzer names units) with a
short label, so regenerating gives the same names."""
import gzip, hashlib, json, os, shutil, struct, sys, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'data')
OUT = os.path.join(HERE, 'corpus')
KEY = b'sk-fuzzCANARY-0123456789abcdefABCDEF'

def data(name):
    with open(os.path.join(DATA, name), 'rb') as f:
        return f.read()

def transcripts(ext):
    return [(n, data(n)) for n in sorted(os.listdir(DATA)) if n.endswith(ext)]

corp = {}
def add(target, label, blob):
    corp.setdefault(target, []).append((label, blob))

# ---- sse: byte 0 = split mode, rest = stream ----
for i, (n, b) in enumerate(transcripts('.sse')):
    add('sse', n, bytes([i]) + b)
for label, s in [
    ('cr_only', b'data: a\rdata: b\r\revent: x\rdata: c\r\r'),
    ('crlf_mixed', b'data: a\r\n\r\ndata: b\n\r\n\rdata:c\n\n'),
    ('bom', b'\xef\xbb\xbfdata: after bom\n\n'),
    ('half_bom', b'\xef\xbbdata: x\n\n'),
    ('id_nul', b'id: a\x00b\ndata: x\n\nid\ndata: y\n\n'),
    ('retry', b'retry: 99999999999999999999999\ndata: x\n\nretry: 12a\ndata: y\n\nretry:\n\n'),
    ('comments', b': comment\n:\n\ndata\ndata:\ndata: \n\n'),
    ('fields', b'event\nevent: \nid: 1\nfoo: bar\ndata:no space\n\n\n\n'),
    ('no_final_blank', b'data: a\ndata: b'),
    ('long_line', b'data: ' + b'x' * 70000 + b'\n\n'),
    ('many_lines', b'data: y\n' * 3000 + b'\n'),
    ('long_event', b'event: ' + b'e' * 66000 + b'\ndata: x\n\n'),
    ('nul_bytes', b'data: a\x00b\n\n\x00\n\n'),
    ('utf8_split', b'data: \xe4\xb8\n\ndata: \xad\n\n'),
]:
    add('sse', label, bytes([len(label)]) + s)

# ---- http_response: byte 0 = flags (1 decompress, 2 HEAD, 4 EOF, 8/16 split, 32/64/128 cancel/refuse) ----
def resp(head, body=b'', status=b'200 OK'):
    return b'HTTP/1.1 ' + status + b'\r\n' + b''.join(h + b'\r\n' for h in head) + b'\r\n' + body

def chunked(body, size=7, ext=b''):
    out = b''
    for i in range(0, len(body), size):
        c = body[i:i + size]
        out += b'%x' % len(c) + ext + b'\r\n' + c + b'\r\n'
    return out + b'0\r\n\r\n'

sse = data('openai_stream_text.sse')
gz = gzip.compress(sse, mtime=0)
zl = zlib.compress(sse)
raw = zlib.compressobj(9, zlib.DEFLATED, -15)
rawd = raw.compress(sse) + raw.flush()
bomb = gzip.compress(b'\0' * (2 << 20), 9, mtime=0)      # 2 MiB: past max_body_bytes
small_bomb = gzip.compress(b'A' * (900 << 10), 9, mtime=0)  # 900 KiB: within it
for flags, label, r in [
    (0, 'cl', resp([b'Content-Length: 5', b'Content-Type: application/json'], b'{"a":')),
    (0x08, 'chunked_sse', resp([b'Transfer-Encoding: chunked', b'Content-Type: text/event-stream'], chunked(sse))),
    (0x10, 'chunked_ext_trailer', resp([b'Transfer-Encoding: chunked'], b'5;name=val\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n')),
    (0x01, 'gzip', resp([b'Content-Encoding: gzip', b'Content-Length: %d' % len(gz)], gz)),
    (0x09, 'gzip_chunked', resp([b'Content-Encoding: gzip', b'Transfer-Encoding: chunked'], chunked(gz, 100))),
    (0x01, 'zlib', resp([b'Content-Encoding: deflate', b'Content-Length: %d' % len(zl)], zl)),
    (0x11, 'raw_deflate', resp([b'Content-Encoding: deflate', b'Content-Length: %d' % len(rawd)], rawd)),
    (0x01, 'gzip_two_members', resp([b'Content-Encoding: x-gzip', b'Content-Length: %d' % (2 * len(gz))], gz + gz)),
    (0x05, 'gzip_truncated_eof', resp([b'Content-Encoding: gzip'], gz[:len(gz) // 2])),
    (0x01, 'gzip_truncated_cl', resp([b'Content-Encoding: gzip', b'Content-Length: %d' % (len(gz) // 2)], gz[:len(gz) // 2])),
    (0x01, 'gzip_corrupt', resp([b'Content-Encoding: gzip', b'Content-Length: %d' % len(gz)], gz[:20] + b'\xff' * 10 + gz[30:])),
    (0x01, 'gzip_bomb', resp([b'Content-Encoding: gzip', b'Content-Length: %d' % len(bomb)], bomb)),
    (0x01, 'gzip_within_limit', resp([b'Content-Encoding: gzip', b'Content-Length: %d' % len(small_bomb)], small_bomb)),
    (0x00, 'bad_chunk_size', resp([b'Transfer-Encoding: chunked'], b'fffffffffffffffffff\r\nabc\r\n0\r\n\r\n')),
    (0x00, 'chunk_size_garbage', resp([b'Transfer-Encoding: chunked'], b'zz\r\nabc\r\n')),
    (0x00, 'chunk_short', resp([b'Transfer-Encoding: chunked'], b'10\r\nabc\r\n0\r\n\r\n')),
    (0x04, 'eof_body', resp([b'Content-Type: text/plain'], b'body until close')),
    (0x04, 'eof_http10', b'HTTP/1.0 200 OK\r\n\r\nold body'),
    (0x00, 'continue', b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n' + resp([b'Content-Length: 2'], b'ok')),
    (0x00, 'no_content_with_body', resp([b'Content-Length: 4'], b'oops', b'204 No Content')),
    (0x02, 'head', resp([b'Content-Length: 1000'])),
    (0x00, 'cl_and_te', resp([b'Content-Length: 3', b'Transfer-Encoding: chunked'], b'3\r\nabc\r\n0\r\n\r\n')),
    (0x00, 'two_cl', resp([b'Content-Length: 3', b'Content-Length: 4'], b'abcd')),
    (0x00, 'cl_too_big', resp([b'Content-Length: 99999999999'], b'x')),
    (0x00, 'too_many_headers', resp([b'X-H%d: v' % i for i in range(40)], b'')),
    (0x00, 'huge_header', resp([b'X-Big: ' + b'v' * 9000], b'')),
    (0x00, 'pipelined_extra', resp([b'Content-Length: 1'], b'a') + b'HTTP/1.1 200 OK\r\n\r\n'),
    (0x00, 'upgrade', resp([b'Upgrade: websocket', b'Connection: upgrade'], b'', b'101 Switching Protocols')),
    (0x00, 'bad_status', b'HTTP/1.1 2000 OK\r\n\r\n'),
    (0x00, 'garbage', b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'),
    (0x20, 'cancel_in_head', resp([b'Content-Length: 2'], b'ok')),
    (0x48, 'cancel_in_body', resp([b'Transfer-Encoding: chunked'], chunked(sse))),
    (0x81, 'refuse_body', resp([b'Content-Encoding: gzip', b'Content-Length: %d' % len(gz)], gz)),
    (0x00, 'error_json', resp([b'Content-Type: application/json', b'Content-Length: 60'], b'{"error":{"type":"rate_limit_error","message":"slow down"}} ', b'429 Too Many Requests')),
]:
    add('http_response', label, bytes([flags]) + r)

# ---- json: the document ----
for n, b in transcripts('.json'):
    add('json', n, b)
for n, b in transcripts('.sse')[:6]:
    for line in b.split(b'\n'):
        if line.startswith(b'data: {') and len(line) > 60:
            add('json', n + '_line', line[6:].rstrip(b'\r'))
            break
for label, s in [
    ('nest', b'[' * 127 + b']' * 127),
    ('too_deep', b'[' * 200 + b']' * 200),
    ('escapes', b'{"a":"\\u0000\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\ud800\\udc00x\\ud800"}'),
    ('lone_low', b'["\\udc00","\\ud83d","\\ud83d\\u0041"]'),
    ('numbers', b'[0,-0,1e308,1E-400,-12.5e+3,123456789012345678901234567890,0.0000001]'),
    ('bad_numbers', b'[01,1.,.5,+1,-,1e,0x10]'),
    ('literals', b'[true,false,null,nul,tru]'),
    ('bad_utf8', b'{"k":"\xff\xfe\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"}'),
    ('dup_keys', b'{"a":1,"a":2,"str\\u0065am":true,"stream":false}'),
    ('ws', b' \t\r\n{ "a" : [ 1 , 2 ] } \n'),
    ('trailing', b'{"a":1} x'),
    ('ctl_in_string', b'["a\x01b"]'),
    ('big_array', b'[' + b','.join(b'%d' % i for i in range(2000)) + b']'),
    ('long_string', b'"' + b'\\u00e9' * 3000 + b'"'),
]:
    add('json', label, s)

# ---- provider: byte 0 bit 0 anthropic, bit 1 stream, bits 2-3 split ----
for n, b in transcripts('.json'):
    add('provider', n, bytes([1 if n.startswith('anthropic') else 0]) + b)
for i, (n, b) in enumerate(transcripts('.sse')):
    add('provider', n, bytes([(1 if n.startswith('anthropic') else 0) | 2 | ((i % 3) << 2)]) + b)
def oai(delta, extra=b''):
    return b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":' + delta + b',"finish_reason":null}]' + extra + b'}\n\n'
for label, fl, s in [
    ('oai_utf8_cut', 2, oai(b'{"content":"a\xe4\xb8"}') + oai(b'{"content":"\xad b"}') + b'data: [DONE]\n\n'),
    ('oai_surrogate_cut', 2, oai(b'{"content":"x\\ud83d"}') + oai(b'{"content":"\\ude00y"}') + oai(b'{"content":"\\ud83d"}') + b'data: [DONE]\n\n'),
    ('oai_cut_then_finish', 2, oai(b'{"content":"\xf0\x9f\x98"}') + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'),
    ('oai_reasoning_switch', 6, oai(b'{"reasoning_content":"\xe4"}') + oai(b'{"content":"\xb8\xad"}')),
    ('oai_tools', 2, oai(b'{"tool_calls":[{"index":4294967295,"id":"t","type":"function","function":{"name":"f","arguments":"{"}}]}') + oai(b'{"tool_calls":[{"index":-1,"function":{"arguments":"}"}}]}')),
    ('oai_usage_huge', 2, b'data: {"choices":[],"usage":{"prompt_tokens":1e300,"completion_tokens":-5,"prompt_tokens_details":{"cached_tokens":99999999999999999999}}}\n\n'),
    ('oai_error', 2, b'data: {"error":{"type":null,"code":"rate_limit_exceeded","message":"m"}}\n\n'),
    ('oai_after_done', 2, b'data: [DONE]\n\n' + oai(b'{"content":"late"}')),
    ('oai_not_object', 2, b'data: [1,2]\n\ndata: "x"\n\ndata: {\n\n'),
    ('ant_cut', 3, b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xe4\xb8"}}\n\nevent: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'),
    ('ant_no_start', 3, b'data: {"type":"message_delta","delta":{"stop_reason":"weird_reason"},"usage":{"output_tokens":3}}\n\ndata: {"type":"message_stop"}\n\n'),
    ('ant_blocks', 3, b''.join(b'data: {"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":"t%d","name":"n"}}\n\n' % (i, i) for i in (0, 63, 64, 4294967295, 70))),
    ('ant_error', 3, b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'),
    ('ant_event_field', 3, b'event: message_stop\ndata: {}\n\n'),
    ('oai_whole_error', 0, b'{"error":{"message":"bad","type":"invalid_request_error"}}'),
    ('oai_whole_nochoices', 0, b'{"id":"x","model":"m"}'),
    ('ant_whole_blocks', 1, b'{"id":"m","model":"c","content":[{"type":"thinking","thinking":"t"},{"type":"text","text":"a"},{"type":"tool_use","id":"i","name":"n","input":{"x":[1,{"y":"\\u00e9"}]}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"cache_read_input_tokens":9007199254740993}}'),
]:
    add('provider', label, bytes([fl]) + s)

# ---- decode_error: bytes 0-1 status, rest body ----
def st(code):
    v = code - 400
    return bytes([v >> 8, v & 0xff])
for label, code, body in [
    ('openai', 400, b'{"error":{"message":"Invalid model","type":"invalid_request_error","param":null,"code":"model_not_found"}}'),
    ('anthropic', 529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
    ('rate', 429, b'{"error":{"type":"rate_limit_error","message":"slow"}}'),
    ('code_not_type', 400, b'{"error":{"type":null,"code":"rate_limit_exceeded","message":"x"}}'),
    ('string_error', 500, b'{"error":"plain words"}'),
    ('detail', 422, b'{"detail":"unprocessable"}'),
    ('message', 404, b'{"message":"not found"}'),
    ('msg_not_string', 500, b'{"error":{"message":42,"type":"t"}}'),
    ('html', 502, b'<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n'),
    ('ansi', 500, b'\x1b[31mred\x1b[0m \x07bell\x7f \xc2\x9b2J \xc2\xa0nbsp\ttab\nline'),
    ('bad_utf8', 500, b'\xff\xfe\xed\xa0\x80 ok \xf0\x9f\x98'),
    ('long', 500, b'word ' * 100),
    ('long_multibyte', 500, '\u00e9'.encode() * 150),
    ('empty', 503, b''),
    ('spaces', 401, b'   \r\n\t  '),
    ('key_echo', 401, b'{"error":{"message":"Incorrect API key provided: ' + KEY + b'","type":"invalid_request_error"}}'),
    ('key_text', 403, b'forbidden for key ' + KEY),
    ('escaped_msg', 400, b'{"error":{"message":"\\u001b[2J\\u0000\\ud800' + b'\\u00e9' * 300 + b'","type":"\\"q\\""}}'),
    ('json_no_msg', 500, b'{"error":{"type":"x"}}'),
]:
    add('decode_error', label, st(code) + body)

# ---- call_error: byte 0 bit 0 anthropic, bit 1 stream, bits 2-7 status ----
def ce(fl, code):
    return bytes([fl | (((code - 400) // 3) << 2)])
for label, b0, body in [
    ('openai_key', ce(0, 401), b'{"error":{"message":"Incorrect API key provided: $K.","type":"invalid_request_error","code":"invalid_api_key"}}'),
    ('anthropic_key', ce(1, 401), b'{"type":"error","error":{"type":"authentication_error $K","message":"invalid x-api-key $K $K"}}'),
    ('stream_key', ce(2, 400), b'{"error":"bad key $K"}'),
    ('html_key', ce(0, 502), b'<html><body>upstream said: Authorization: Bearer $K</body></html>'),
    ('detail_key', ce(3, 422), b'{"detail":"$K$K"}'),
    ('long_key', ce(0, 400), b'{"error":{"message":"' + b'x' * 1000 + b' $K"}}'),
    ('escaped_key', ce(0, 400), b'{"error":{"message":"sk-fuzz\\u0043ANARY-0123456789abcdefABCDEF"}}'),
    ('type_key', ce(0, 429), b'{"error":{"type":"$K","message":"m"}}'),
]:
    add('call_error', label, b0 + body)

# ---- config: the JSON ----
for label, c in [
    ('readme', {"upstreams": {"openai": {"base_url": "https://api.openai.com/v1", "api": "openai", "api_key_env": "LLMRT_FUZZ_KEY", "max_connections": 64},
                              "local": {"base_url": "http://127.0.0.1:8080/v1", "api": "openai"}},
                "default_upstream": "openai", "plugins": [{"name": "retry", "max_attempts": 4, "base_delay_ms": 250, "max_delay_ms": 8000}]}),
    ('anthropic_headers', {"upstreams": {"a": {"base_url": "https://api.anthropic.com/v1", "api": "anthropic", "api_key_env": "LLMRT_FUZZ_KEY", "headers": {"x-extra": "1", "anthropic-beta": "b"}}}}),
    ('bad_key_ctl', {"upstreams": {"a": {"base_url": "http://h/v1", "api": "openai", "api_key_env": "LLMRT_FUZZ_BADKEY"}}}),
    ('missing_env', {"upstreams": {"a": {"base_url": "http://h/v1", "api": "openai", "api_key_env": "LLMRT_FUZZ_UNSET"}}}),
    ('creds_in_url', {"upstreams": {"a": {"base_url": "http://user:sk-fuzzCANARY@h/v1", "api": "openai"}}}),
    ('query_in_url', {"upstreams": {"a": {"base_url": "http://h/v1?key=x", "api": "openai"}}}),
    ('reserved_header', {"upstreams": {"a": {"base_url": "http://h/v1", "api": "openai", "headers": {"Authorization": "Bearer x", "Host": "y"}}}}),
    ('unknown_api', {"upstreams": {"a\"\n\u0001b": {"base_url": "http://h", "api": "gemini"}}}),
    ('bad_types', {"upstreams": {"a": {"base_url": 5, "api": ["openai"], "max_connections": -1}}, "plugins": {}}),
    ('max_conn', {"upstreams": {"a": {"base_url": "http://[::1]:99999/v1", "api": "openai", "max_connections": 100001}}}),
    ('no_upstreams_default', {"default_upstream": "x"}),
    ('unknown_default', {"upstreams": {"a": {"base_url": "http://h", "api": "openai"}}, "default_upstream": "b"}),
    ('plugins_bad', {"plugins": [{"name": "retry", "max_attempts": "many"}, {"name": "nosuch"}, {"noname": 1}, 3]}),
    ('plugin_path', {"plugins": [{"name": "./nosuch.so"}, {"name": "/nonexistent/x.so"}]}),
    ('retry_limits', {"plugins": [{"name": "retry", "max_attempts": 1e308, "base_delay_ms": -1, "max_delay_ms": 0}]}),
    ('empty', {}),
]:
    add('config', label, json.dumps(c).encode())
for label, s in [
    ('dup_keys', b'{"upstreams":{"a":{"base_url":"http://h","api":"openai"},"a":{"base_url":"http://i","api":"openai"}}}'),
    ('trailing', b'{} {}'),
    ('deep', b'{"plugins":[{"name":"retry","x":' + b'[' * 300 + b']' * 300 + b'}]}'),
    ('not_object', b'[1,2]'),
    ('truncated', b'{"upstreams":{"a":{"base_url":"http:'),
    ('nul_inside', b'{"upstreams":{}}\x00garbage'),
]:
    add('config', label, s)

# ---- http_server: the bytes a client sends ----
body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
gzb = gzip.compress(body, mtime=0)
for label, s in [
    ('post', b'POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' % len(body) + body),
    ('get_query', b'GET /v1/models?x=1&y=%20 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip;q=0, deflate\r\n\r\n'),
    ('chunked', b'POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' + chunked(body, 9, b';e=1') ),
    ('gzip_body', b'POST /gz HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n' % len(gzb) + gzb),
    ('gzip_bomb', b'POST /bomb HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n' % len(bomb) + bomb),
    ('gzip_bad', b'POST /gzbad HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789'),
    ('br_body', b'POST /br HTTP/1.1\r\nHost: h\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc'),
    ('pipelined', b'GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /bb HTTP/1.1\r\nHost: h\r\n\r\nGET /ccc HTTP/1.1\r\nHost: h\r\n\r\nPOST /dddd HTTP/1.1\r\nContent-Length: 2\r\n\r\nok'),
    ('head', b'HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n'),
    ('http10', b'GET /ten HTTP/1.0\r\n\r\n'),
    ('close', b'GET /abcde HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n'),
    ('expect', b'POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi'),
    ('cl_te', b'POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'),
    ('two_cl', b'POST /s HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'),
    ('bad_chunk', b'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n'),
    ('body_too_big', b'POST /big HTTP/1.1\r\nContent-Length: 999999999\r\n\r\nxx'),
    ('many_headers', b'GET /m HTTP/1.1\r\n' + b''.join(b'X-%d: v\r\n' % i for i in range(40)) + b'\r\n'),
    ('big_header', b'GET /m HTTP/1.1\r\nX-Big: ' + b'v' * 9000 + b'\r\n\r\n'),
    ('obs_fold', b'GET /f HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n'),
    ('bad_method', b'G@T / HTTP/1.1\r\n\r\n'),
    ('bad_version', b'GET / HTTP/9.9\r\n\r\n'),
    ('lf_only', b'GET /lf HTTP/1.1\nHost: h\n\n'),
    ('trailers', b'POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: ' + b't' * 100 + b'\r\n\r\n'),
    ('incomplete', b'POST /inc HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort'),
    ('garbage', b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'),
    ('upgrade', b'GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
    ('connect', b'CONNECT h:443 HTTP/1.1\r\n\r\n'),
]:
    add('http_server', label, s)

total = 0
for target, items in sorted(corp.items()):
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for label, blob in items:
        safe = ''.join(c if c.isalnum() or c in '_-' else '_' for c in label.replace('.', '_'))
        name = '%s-%s' % (safe, hashlib.sha1(blob).hexdigest()[:8])
        with open(os.path.join(d, name), 'wb') as f:
            f.write(blob)
        total += len(blob)
    print('%-14s %3d files' % (target, len(items)))
print('total %d bytes' % total)
