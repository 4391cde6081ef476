// Drives `distiltrace serve` with the official OpenAI Node SDK (from the npm registry), the
// way an API user's code would: chat and completions, with and without streaming, n > 1,
// logprobs, echo, the model list, and the errors the SDK maps to exceptions. Prints one TAP
// line per check; exit 1 if any failed. Usage: node openai_sdk_check.mjs BASE_URL MODEL
import OpenAI from 'openai';

const [base, model] = process.argv.slice(2);
const client = new OpenAI({baseURL: base, apiKey: 'not-needed', maxRetries: 0, timeout: 60000});
let n = 0, failed = 0;
function check(cond, name, detail) {
  n++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond) {
    failed++;
    if (detail !== undefined) console.log('# ' + JSON.stringify(detail));
  }
}
const msgs = [{role: 'user', content: 'Who are you?'}];

const models = await client.models.list();
check(models.data.length === 1 && models.data[0].id === model, 'models.list names the model',
      models.data);

const plain = await client.chat.completions.create(
    {model, messages: msgs, seed: 7, temperature: 0.8, max_tokens: 30, logprobs: true,
     top_logprobs: 2});
const text = plain.choices[0].message.content;
check(typeof text === 'string' && text.length > 0 && plain.choices[0].finish_reason,
      'chat.completions.create answers', plain);
check(plain.choices[0].logprobs.content.length > 0 &&
          plain.choices[0].logprobs.content[0].top_logprobs.length === 2,
      'chat logprobs with top_logprobs');

const stream = await client.chat.completions.create(
    {model, messages: msgs, seed: 7, temperature: 0.8, max_tokens: 30, stream: true,
     stream_options: {include_usage: true}});
let streamed = '', chunks = 0, finish = null, usage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  const c = chunk.choices[0];
  if (!c) continue;
  if (c.delta.content) streamed += c.delta.content;
  if (c.finish_reason) finish = c.finish_reason;
}
check(streamed === text && chunks > 2 && finish && usage && usage.completion_tokens > 0,
      'streamed chat equals the unstreamed answer, with a finish reason and usage',
      {streamed, text, chunks, finish, usage});

const runner = client.chat.completions.stream({model, messages: msgs, seed: 7, temperature: 0.8,
                                               max_tokens: 30});
const final = await runner.finalChatCompletion();
check(final.choices[0].message.content === text, 'the SDK stream helper assembles the same answer',
      final.choices[0].message.content);

const many = await client.chat.completions.create(
    {model, messages: [{role: 'user', content: 'Tell me a story.'}], seed: 3, temperature: 1,
     max_tokens: 16, n: 3});
check(many.choices.length === 3 && many.choices.map((c) => c.index).join() === '0,1,2',
      'n = 3 gives three choices');

const comp = await client.completions.create(
    {model, prompt: 'The old man said', max_tokens: 8, temperature: 0, logprobs: 2, echo: true});
check(comp.choices[0].text.startsWith('The old man said') &&
          comp.choices[0].logprobs.token_logprobs[0] === null,
      'completions with echo and logprobs', comp.choices[0]);

const cstream = await client.completions.create(
    {model, prompt: 'The old man said', max_tokens: 8, temperature: 0, stream: true});
let ctext = '';
for await (const chunk of cstream) ctext += chunk.choices[0]?.text ?? '';
const cplain = await client.completions.create(
    {model, prompt: 'The old man said', max_tokens: 8, temperature: 0});
check(ctext === cplain.choices[0].text, 'streamed completions equal the unstreamed text',
      {ctext, plain: cplain.choices[0].text});

try {
  await client.chat.completions.create({model: 'gpt-4o', messages: msgs});
  check(false, 'another model name is refused');
} catch (e) {
  check(e instanceof OpenAI.NotFoundError && e.code === 'model_not_found',
        'another model name: NotFoundError model_not_found', String(e));
}
try {
  await client.embeddings.create({model, input: 'x'});
  check(false, 'embeddings are refused');
} catch (e) {
  check(e instanceof OpenAI.NotFoundError, 'embeddings: NotFoundError', String(e));
}
try {
  await client.chat.completions.create({model, messages: msgs, temperature: 7});
  check(false, 'a bad parameter is refused');
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && /temperature/.test(e.message),
        'a bad parameter: BadRequestError naming it', String(e));
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
