// The JavaScript `openai` package (6.x): a text turn, then a question answered through a tool.
//
//   npm install openai@6 ws
//   node openai_js.mjs ws://127.0.0.1:8765/v1/realtime ["question" ...]
//
// The URL is what `rtkit record --listen`, `rtkit serve` or `rtkit fake` printed. Prints what
// was said, then one JSON line {"seen": [server event types], "said": [...]}; exits 1 on an
// `error` event (rtkit serve's replay_mismatch among them). RT_WEBSOCKET_GLOBAL=1 uses
// OpenAIRealtimeWebSocket (the WebSocket global: Node 22, or 20 with --experimental-websocket)
// instead of OpenAIRealtimeWS (the `ws` package).
import net from 'node:net'
import OpenAI from 'openai'
import { OpenAIRealtimeWebSocket } from 'openai/realtime/websocket'
import { OpenAIRealtimeWS } from 'openai/realtime/ws'

const url = new URL(process.argv[2] ?? 'ws://127.0.0.1:8765/v1/realtime')
const questions = process.argv.length > 3
  ? process.argv.slice(3)
  : ['Hello!', "What's the weather in Paris?"]
const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city.',
  parameters: {
    type: 'object',
    properties: { location: { type: 'string' } },
    required: ['location']
  }
}
const getWeather = ({ location }) => ({ location, temp_c: 21, sky: 'sunny' })

// the SDK makes wss://<host><path>/realtime?model=... out of baseURL: give it rtkit's host and
// path, then have it connect without TLS (rtkit listens on plain ws:// on loopback)
const client = new OpenAI({
  apiKey: 'placeholder', // rtkit holds the real key (or needs none)
  baseURL: `http://${url.host}${url.pathname.replace(/\/realtime$/, '')}`
})
const rt = process.env.RT_WEBSOCKET_GLOBAL
  ? new OpenAIRealtimeWebSocket({ model: 'gpt-realtime', onURL: (u) => { u.protocol = 'ws' } }, client)
  : new OpenAIRealtimeWS(
    { model: 'gpt-realtime', options: { createConnection: (opts) => net.connect(opts) } }, client)

rt.on('error', (err) => { // a server `error` event or a socket error: stop at once
  console.error(err.message)
  process.exit(1)
})
const inbox = []
let wake = null
rt.on('event', (event) => {
  inbox.push(event)
  if (wake) wake()
})
const seen = []
async function next () { // the next server event, in order
  while (inbox.length === 0) await new Promise((resolve) => { wake = resolve })
  const event = inbox.shift()
  seen.push(event.type)
  return event
}

const said = []
while ((await next()).type !== 'session.created');
rt.send({
  type: 'session.update',
  session: { type: 'realtime', output_modalities: ['text'], tools: [WEATHER_TOOL] }
})
for (const question of questions) {
  rt.send({
    type: 'conversation.item.create',
    item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: question }] }
  })
  rt.send({ type: 'response.create' })
  for (;;) {
    const event = await next()
    if (event.type !== 'response.done') continue
    const item = event.response.output[0]
    if (item.type === 'function_call') { // run the tool, send its result, ask again
      said.push(`tool call: ${item.name} ${item.arguments}`)
      const output = JSON.stringify(getWeather(JSON.parse(item.arguments)))
      rt.send({
        type: 'conversation.item.create',
        item: { type: 'function_call_output', call_id: item.call_id, output }
      })
      rt.send({ type: 'response.create' })
    } else {
      said.push(`assistant: ${item.content[0].text}`)
      break
    }
  }
}
rt.close()
console.log(said.join('\n'))
console.log(JSON.stringify({ seen, said }))
