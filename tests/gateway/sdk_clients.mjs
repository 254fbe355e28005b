// The official SDKs (openai 6.x, @anthropic-ai/sdk) against `llmrt serve`
// in front of `llmrt mock`, both formats, streamed and not, each with its
// default authentication and API version. Run by ctest (test_gateway_sdks):
//   node --test tests/gateway/sdk_clients.mjs   with LLMRT_BIN and LLMRT_NPM set
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const bin = process.env.LLMRT_BIN;
const require = createRequire(resolve(process.env.LLMRT_NPM, 'package.json'));
const OpenAI = require('openai').default ?? require('openai');
const Anthropic = require('@anthropic-ai/sdk').default ?? require('@anthropic-ai/sdk');

const KEY = 'gk-sdk-test-key-1';
let mock, gw, recorder, gwUrl;
const recorded = [];

function waitFor(proc, re) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf}`)), 10000);
    proc.stderr.on('data', (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) { clearTimeout(t); resolve(m); }
    });
    proc.on('exit', (c) => reject(new Error(`exited ${c}: ${buf}`)));
  });
}

before(async () => {
  mock = spawn(bin, ['mock', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const mockUrl = await new Promise((resolve, reject) => {
    let buf = '';
    const on = (d) => { buf += d; const m = buf.match(/http:\/\/127\.0\.0\.1:(\d+)\/v1/); if (m) resolve(m[0]); };
    mock.stdout.on('data', on);
    setTimeout(() => reject(new Error('mock did not start: ' + buf)), 10000);
  });
  // An upstream that records the bytes it receives (for byte-exact checks).
  recorder = createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      recorded.push(Buffer.concat(parts).toString('utf8'));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: 'rec',
        choices: [{ index: 0, message: { role: 'assistant', content: 'recorded' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
    });
  });
  await new Promise((r) => recorder.listen(0, '127.0.0.1', r));
  const recUrl = `http://127.0.0.1:${recorder.address().port}/v1`;
  const dir = mkdtempSync(join(tmpdir(), 'llmrt-gw-sdk-'));
  const cfg = join(dir, 'gw.json');
  writeFileSync(cfg, JSON.stringify({
    listen: '127.0.0.1:0',
    upstreams: {
      oa: { base_url: mockUrl, api: 'openai', api_key_env: 'GW_SDK_UPKEY' },
      an: { base_url: mockUrl, api: 'anthropic', api_key_env: 'GW_SDK_UPKEY' },
      rec: { base_url: recUrl, api: 'openai', api_key_env: 'GW_SDK_UPKEY' },
    },
    default_upstream: 'oa',
    routes: {
      'gpt-4o-mini': { upstream: 'oa', model: 'mock-oa' },
      'claude-haiku': { upstream: 'an', model: 'mock-an' },
      recorded: { upstream: 'rec', model: 'upstream-name' },
    },
    auth: { keys: [{ key: KEY, tenant: 'sdk' }] },
    access_log: 'off',
  }));
  gw = spawn(bin, ['serve', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GW_SDK_UPKEY: 'sk-up' } });
  const m = await waitFor(gw, /listening on port (\d+)/);
  gwUrl = `http://127.0.0.1:${m[1]}`;
});

after(async () => {
  gw?.kill('SIGTERM');
  mock?.kill('SIGTERM');
  recorder?.close();
});

test('openai: chat completion, not streamed', async () => {
  const c = new OpenAI({ apiKey: KEY, baseURL: `${gwUrl}/v1`, maxRetries: 0 });
  const r = await c.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 6,
    messages: [{ role: 'user', content: 'hello' }] });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  assert.ok(r.usage.prompt_tokens >= 1);
});

test('openai: streamed, with usage', async () => {
  const c = new OpenAI({ apiKey: KEY, baseURL: `${gwUrl}/v1`, maxRetries: 0 });
  const s = await c.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, stream: true,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hello' }] });
  let text = '', finish = null, usage = null;
  for await (const ch of s) {
    if (ch.choices[0]?.delta?.content) text += ch.choices[0].delta.content;
    if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
    if (ch.usage) usage = ch.usage;
  }
  assert.ok(text.length > 0);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 5);
});

test('anthropic: message, not streamed', async () => {
  const c = new Anthropic({ apiKey: KEY, baseURL: gwUrl, maxRetries: 0 });
  const r = await c.messages.create({ model: 'claude-haiku', max_tokens: 7,
    messages: [{ role: 'user', content: 'hello' }] });
  assert.equal(r.type, 'message');
  assert.equal(r.content[0].type, 'text');
  assert.ok(r.content[0].text.length > 0);
  assert.equal(r.stop_reason, 'max_tokens');
  assert.equal(r.usage.output_tokens, 7);
});

test('anthropic: streamed', async () => {
  const c = new Anthropic({ apiKey: KEY, baseURL: gwUrl, maxRetries: 0 });
  const s = c.messages.stream({ model: 'claude-haiku', max_tokens: 4,
    messages: [{ role: 'user', content: 'hello' }] });
  let text = '';
  s.on('text', (t) => { text += t; });
  const final = await s.finalMessage();
  assert.ok(text.length > 0);
  assert.equal(final.content[0].text, text);
  assert.equal(final.stop_reason, 'max_tokens');
  assert.equal(final.usage.output_tokens, 4);
});

test('cross-protocol: anthropic SDK to an OpenAI upstream, and the reverse', async () => {
  const a = new Anthropic({ apiKey: KEY, baseURL: gwUrl, maxRetries: 0 });
  const r = await a.messages.create({ model: 'gpt-4o-mini', max_tokens: 3,
    messages: [{ role: 'user', content: 'hello' }] });
  assert.ok(r.content[0].text.length > 0);
  assert.equal(r.stop_reason, 'max_tokens');
  const o = new OpenAI({ apiKey: KEY, baseURL: `${gwUrl}/v1`, maxRetries: 0 });
  const s = await o.chat.completions.create({ model: 'claude-haiku', max_tokens: 3, stream: true,
    messages: [{ role: 'user', content: 'hello' }] });
  let text = '';
  for await (const ch of s) text += ch.choices[0]?.delta?.content ?? '';
  assert.ok(text.length > 0);
});

test('the upstream receives the bytes the SDK sent (content parts, cache marks)', async () => {
  let sent = null;
  const spy = async (url, init) => { sent = init.body; return fetch(url, init); };
  const c = new OpenAI({ apiKey: KEY, baseURL: `${gwUrl}/v1`, maxRetries: 0, fetch: spy });
  const r = await c.chat.completions.create({ model: 'recorded', max_tokens: 9, messages: [
    { role: 'system', content: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }] },
    { role: 'user', content: [{ type: 'text', text: 'caf\u00e9' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
  ], metadata: { anything: 'kept' } });
  assert.equal(r.choices[0].message.content, 'recorded');
  assert.equal(typeof sent, 'string');
  assert.equal(recorded.at(-1), sent.replace('"model":"recorded"', '"model":"upstream-name"'));
});

test('401 without a valid key, in each SDK\'s error type', async () => {
  const o = new OpenAI({ apiKey: 'gk-wrong-key-000', baseURL: `${gwUrl}/v1`, maxRetries: 0 });
  await assert.rejects(o.chat.completions.create({ model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 401 && e instanceof OpenAI.AuthenticationError);
  const a = new Anthropic({ apiKey: 'gk-wrong-key-000', baseURL: gwUrl, maxRetries: 0 });
  await assert.rejects(a.messages.create({ model: 'claude-haiku', max_tokens: 5,
    messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 401 && e instanceof Anthropic.AuthenticationError);
});
